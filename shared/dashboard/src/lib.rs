//! The owner's dashboard: one server-rendered page per shop (tiles, monthly trends, the
//! cohort heat map, flow funnels with lift, recent skips and deferrals), served by `aftersale
//! serve` at `/dashboard` and on AWS by `functions/dashboard`, on the same router.

pub mod access;
pub mod http;
pub mod page;
pub mod words;

pub use access::Access;
pub use http::{Dashboard, router};
pub use words::Lang;
