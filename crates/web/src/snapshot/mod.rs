//! The catalog as every request reads it: the searchable snapshot ([`cache`]) and the rendered
//! anonymous responses ([`response_cache`]), both keyed by the catalog revision.

pub mod cache;
pub mod response_cache;
