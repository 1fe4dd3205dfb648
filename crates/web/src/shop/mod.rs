//! Buying: prices, quotes, orders and the admin order API ([`prices`]), checkout, webhooks and
//! the local payment mode ([`checkout`]), and the pricing, bundles and billing pages
//! ([`pages`]).

pub mod checkout;
pub mod pages;
pub mod prices;
