//! What the template tests share.

/// Every built-in message step, as `(flow, step)`.
pub const STEPS: [(&str, &str); 21] = [
    ("thank-you", "thank-you"),
    ("thank-you", "feedback"),
    ("delivery-check-in", "check-in"),
    ("review-request", "request"),
    ("review-request", "reminder"),
    ("replenishment", "reminder"),
    ("replenishment", "follow-up"),
    ("win-back", "value"),
    ("win-back", "offer"),
    ("win-back", "social-proof"),
    ("win-back", "last-call"),
    ("vip", "tier-entered"),
    ("vip", "birthday"),
    ("vip", "anniversary"),
    ("early-access", "you-first"),
    ("referral", "share"),
    ("referral", "reward"),
    ("checkout-recovery", "reminder"),
    ("checkout-recovery", "second-reminder"),
    ("make-it-right", "credit"),
    ("care-guide", "guide"),
];
