//! What each message says: a [`Letter`] (the facts) becomes a [`Composed`] message (subject,
//! plain text, simple HTML). Plain language, product names, amounts as the shop shows them,
//! and always a way to reach a person ([`Site::support`]).

/// Who sends, and where the shop is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The seller's name.
    pub company: String,
    /// Where buyers write for help.
    pub support: String,
    /// The shop's base URL, without a trailing slash.
    pub public_url: String,
}

impl Site {
    /// The seller `company`, reached at `support`, at `public_url`.
    #[must_use]
    pub fn new(company: &str, support: &str, public_url: &str) -> Self {
        Self {
            company: company.to_owned(),
            support: support.to_owned(),
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// An absolute link to `path` on the shop.
    #[must_use]
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }
}

/// One line of a receipt: what, and the amount as shown (`$49.00`, `−$19.00`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptLine {
    /// What the line is.
    pub label: String,
    /// The amount, formatted.
    pub amount: String,
}

/// The facts of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Letter {
    /// Confirm the address given at sign-up.
    VerifyEmail {
        /// The single-use confirmation link.
        link: String,
    },
    /// Choose a new password.
    PasswordReset {
        /// The single-use reset link.
        link: String,
        /// How long the link works.
        minutes: i64,
    },
    /// A payment was fulfilled.
    Receipt {
        /// The order number.
        order: i64,
        /// What was bought, by name.
        product: String,
        /// Price, credit, waived amounts.
        lines: Vec<ReceiptLine>,
        /// What was charged.
        total: String,
        /// For a renewal: the period it paid for, in words.
        period: Option<String>,
        /// Where to download (the KEY page, or the library).
        download: String,
        /// The order's page.
        order_link: String,
    },
    /// A renewal payment failed.
    PaymentFailed {
        /// The plan, by name.
        product: String,
        /// The last day of access unless the payment succeeds.
        access_until: String,
        /// Where to fix the card.
        fix: String,
    },
    /// Access ended.
    AccessEnded {
        /// What access ended to, by name.
        product: String,
        /// Why, in words ("the payment was refunded").
        reason: String,
        /// Where to buy again or browse.
        browse: String,
    },
    /// An invitation to an organisation.
    Invitation {
        /// The organisation's name.
        organisation: String,
        /// Who invited.
        inviter: String,
        /// The single-use invitation link.
        link: String,
    },
}

/// A message ready for a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body (simple, no images, no scripts).
    pub html: String,
}

/// Escapes text for HTML.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A body built once as text and once as HTML.
struct Body {
    text: String,
    html: String,
}

impl Body {
    fn new() -> Self {
        Self {
            text: String::new(),
            html: String::from(
                "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;line-height:1.5;color:#1c1d21;max-width:36rem\">",
            ),
        }
    }

    fn para(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self.text.push_str("\n\n");
        self.html.push_str("<p>");
        self.html.push_str(&escape(text));
        self.html.push_str("</p>");
        self
    }

    fn link(&mut self, label: &str, url: &str) -> &mut Self {
        self.text.push_str(label);
        self.text.push_str(":\n");
        self.text.push_str(url);
        self.text.push_str("\n\n");
        self.html.push_str("<p><a href=\"");
        self.html.push_str(&escape(url));
        self.html.push_str("\">");
        self.html.push_str(&escape(label));
        self.html.push_str("</a></p>");
        self
    }

    fn table(&mut self, rows: &[(String, String)]) -> &mut Self {
        let width = rows.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
        self.html.push_str("<table style=\"border-collapse:collapse\">");
        for (label, amount) in rows {
            let pad = width.saturating_sub(label.chars().count()) + 2;
            self.text.push_str(label);
            self.text.push_str(&" ".repeat(pad));
            self.text.push_str(amount);
            self.text.push('\n');
            self.html.push_str("<tr><td style=\"padding:2px 16px 2px 0\">");
            self.html.push_str(&escape(label));
            self.html
                .push_str("</td><td style=\"text-align:right;white-space:nowrap\">");
            self.html.push_str(&escape(amount));
            self.html.push_str("</td></tr>");
        }
        self.text.push('\n');
        self.html.push_str("</table>");
        self
    }

    fn finish(mut self, site: &Site) -> (String, String) {
        let footer = format!(
            "{} · Questions? Write to {} · {}",
            site.company,
            site.support,
            site.link("/support")
        );
        self.text.push_str("-- \n");
        self.text.push_str(&footer);
        self.text.push('\n');
        self.html.push_str("<hr><p style=\"color:#5d6270;font-size:13px\">");
        self.html.push_str(&escape(&site.company));
        self.html.push_str(" · Questions? Write to <a href=\"mailto:");
        self.html.push_str(&escape(&site.support));
        self.html.push_str("\">");
        self.html.push_str(&escape(&site.support));
        self.html.push_str("</a> · <a href=\"");
        self.html.push_str(&escape(&site.link("/refunds")));
        self.html.push_str("\">Refunds</a></p></body></html>");
        (self.text, self.html)
    }
}

/// Writes `letter` as a message from `site`.
#[must_use]
pub fn compose(letter: &Letter, site: &Site) -> Composed {
    let mut b = Body::new();
    let subject = match letter {
        Letter::VerifyEmail { link } => {
            b.para("Welcome to KEYS. Please confirm that this is your email address, so that receipts and password resets reach you.")
                .link("Confirm your email", link)
                .para("If you did not create a KEYS account, ignore this message; nothing happens without the confirmation.");
            "Confirm your email for KEYS".to_owned()
        }
        Letter::PasswordReset { link, minutes } => {
            b.para("Someone (we hope you) asked to reset the password of your KEYS account.")
                .link("Choose a new password", link)
                .para(&format!(
                    "The link works once, for {minutes} minutes. Choosing a new password signs you out everywhere else. \
                     If you did not ask for this, ignore this message: your password stays as it is."
                ));
            "Reset your KEYS password".to_owned()
        }
        Letter::Receipt {
            order,
            product,
            lines,
            total,
            period,
            download,
            order_link,
        } => {
            b.para(&format!(
                "Thank you for your purchase. Here is your receipt for order #{order}."
            ));
            let mut rows: Vec<(String, String)> = lines.iter().map(|l| (l.label.clone(), l.amount.clone())).collect();
            rows.push(("Charged".to_owned(), total.clone()));
            b.para(product);
            if let Some(p) = period {
                b.para(&format!("This payment covers {p}."));
            }
            b.table(&rows)
                .link("Download it", download)
                .link("Your order", order_link)
                .para("Downloads are in your library whenever you need them; every new version is included.");
            format!("Your KEYS receipt: {product}")
        }
        Letter::PaymentFailed {
            product,
            access_until,
            fix,
        } => {
            b.para(&format!("The renewal payment for your {product} did not go through."))
                .para(&format!(
                    "Nothing is lost yet: you keep access until {access_until}. Update your card before then and the plan carries on as before; after that date, access through the plan stops until a payment succeeds."
                ))
                .link("Update your card", fix);
            format!("Payment failed: your {product} needs a new card")
        }
        Letter::AccessEnded {
            product,
            reason,
            browse,
        } => {
            b.para(&format!("Your access to {product} has ended: {reason}."))
                .para("KEYS you own through another purchase or plan are not affected. Archives you downloaded stay yours to use under the licence you bought them with, until then.")
                .link("See what you own", &format!("{}/account/keys", site.public_url))
                .link("Browse KEYS", browse);
            format!("Your access to {product} has ended")
        }
        Letter::Invitation {
            organisation,
            inviter,
            link,
        } => {
            b.para(&format!(
                "{inviter} invited you to join {organisation} on KEYS. Members can download every KEY the organisation owns."
            ))
            .link("Accept the invitation", link)
            .para("The link works once. If you do not know the sender, ignore this message.");
            format!("{inviter} invited you to {organisation} on KEYS")
        }
    };
    let (text, html) = b.finish(site);
    Composed { subject, text, html }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site::new("Acme <Tools>", "help@acme.example", "https://shop.example/")
    }

    #[test]
    fn every_letter_names_the_seller_and_a_contact_and_escapes_html() {
        let letters = [
            Letter::VerifyEmail {
                link: "https://shop.example/verify/v".into(),
            },
            Letter::PasswordReset {
                link: "https://shop.example/reset/r".into(),
                minutes: 60,
            },
            Letter::Receipt {
                order: 12,
                product: "PostgreSQL <Failover> Runbook".into(),
                lines: vec![
                    ReceiptLine {
                        label: "Price".into(),
                        amount: "$98.28".into(),
                    },
                    ReceiptLine {
                        label: "Credit for what you already paid".into(),
                        amount: "−$19.00".into(),
                    },
                ],
                total: "$79.28".into(),
                period: None,
                download: "https://shop.example/marketplace/postgres-failover-runbook".into(),
                order_link: "https://shop.example/checkout/return?order=12".into(),
            },
            Letter::PaymentFailed {
                product: "Scale plan".into(),
                access_until: "10 December 2026".into(),
                fix: "https://shop.example/account/billing".into(),
            },
            Letter::AccessEnded {
                product: "Scale plan".into(),
                reason: "the payment was refunded".into(),
                browse: "https://shop.example/marketplace".into(),
            },
            Letter::Invitation {
                organisation: "Ops Team".into(),
                inviter: "ada@example.com".into(),
                link: "https://shop.example/join/inv".into(),
            },
        ];
        for l in &letters {
            let m = compose(l, &site());
            assert!(!m.subject.is_empty());
            for body in [&m.text, &m.html] {
                assert!(body.contains("help@acme.example"), "{l:?}");
                assert!(
                    !body.contains("key:") && !body.contains("plan:") && !body.contains("bundle:"),
                    "no SKU codes: {l:?}"
                );
            }
            assert!(m.text.contains("Acme <Tools>"));
            assert!(
                m.html.contains("Acme &lt;Tools&gt;") && !m.html.contains("<Tools>"),
                "{}",
                m.html
            );
        }
        let receipt = compose(&letters[2], &site());
        assert_eq!(receipt.subject, "Your KEYS receipt: PostgreSQL <Failover> Runbook");
        assert!(receipt.text.contains("order #12"));
        assert!(receipt.text.contains("Charged") && receipt.text.contains("$79.28"));
        assert!(receipt.html.contains("PostgreSQL &lt;Failover&gt; Runbook"));
        let failed = compose(&letters[3], &site());
        assert!(failed.text.contains("you keep access until 10 December 2026"));
        assert!(failed.html.contains("href=\"https://shop.example/account/billing\""));
    }
}
