//! Fraud checks run before any referral reward: pure functions of what the order and the
//! shop's history say, so every rule is testable and every rejection explainable to a merchant.

use chrono::{DateTime, TimeDelta, Utc};
use std::fmt;
use std::net::IpAddr;

/// Fewest digits a phone number needs before we compare it; shorter values are placeholders.
const MIN_PHONE_DIGITS: usize = 6;
/// Fewest trailing digits two differently formatted numbers (`+39 333…` vs `333…`) must share.
const MIN_PHONE_SUFFIX: usize = 8;

/// A postal address as the platform gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostalAddress {
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub postcode: String,
    pub country_code: String,
}

/// Who someone is, as far as an order tells us. Any field may be missing (guest checkouts,
/// digital goods without shipping).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Party {
    pub customer_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub shipping_address: Option<PostalAddress>,
}

/// A friend's order that used an advocate's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralAttempt {
    pub order_id: String,
    pub placed_at: DateTime<Utc>,
    /// The browser IP the platform recorded for the order, if any.
    pub client_ip: Option<IpAddr>,
    /// The code's owner, from their customer profile.
    pub advocate: Party,
    /// The friend, from the order.
    pub friend: Party,
}

/// An earlier order that used any referral code in the same shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferredOrder {
    pub order_id: String,
    pub placed_at: DateTime<Utc>,
    pub client_ip: IpAddr,
}

/// What the shop already knows that bears on an attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferralHistory {
    /// When the friend paid for each of their orders (any order; the attempt's own is ignored
    /// because it is not before `placed_at`).
    pub friend_paid_orders: Vec<DateTime<Utc>>,
    /// Recent referred orders in the shop; the attempt itself may be included (matched by id).
    pub referred_orders: Vec<ReferredOrder>,
}

/// Limits a shop can tune.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FraudRules {
    /// Most referred orders one network may place within `ip_window`, this one included.
    pub max_orders_per_ip: usize,
    pub ip_window: TimeDelta,
}

impl Default for FraudRules {
    /// 3 in 24 hours: a household or office may share an IP, a farm of fake friends may not.
    fn default() -> Self {
        Self {
            max_orders_per_ip: 3,
            ip_window: TimeDelta::hours(24),
        }
    }
}

/// Why a referral earns nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    SameCustomer,
    SameEmail,
    SamePhone,
    SameShippingAddress,
    ExistingCustomer { first_paid_at: DateTime<Utc> },
    TooManyFromOneNetwork { orders: usize, window: TimeDelta },
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SameCustomer => f.write_str("the friend is the advocate's own customer account"),
            Self::SameEmail => f.write_str("the friend's email address is the advocate's"),
            Self::SamePhone => f.write_str("the friend's phone number is the advocate's"),
            Self::SameShippingAddress => f.write_str("the order ships to the advocate's address"),
            Self::ExistingCustomer { first_paid_at } => write!(
                f,
                "the friend is already a customer (first paid order on {})",
                first_paid_at.format("%Y-%m-%d")
            ),
            Self::TooManyFromOneNetwork { orders, window } => write!(
                f,
                "{orders} referred orders came from the same network within {} hours",
                window.num_hours()
            ),
        }
    }
}

/// The outcome of the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FraudVerdict {
    Allowed,
    Rejected(RejectReason),
}

/// [`check_referral_with`] under the default rules.
pub fn check_referral(referral: &ReferralAttempt, history: &ReferralHistory) -> FraudVerdict {
    check_referral_with(referral, history, &FraudRules::default())
}

/// Runs every rule in order (self-referral, existing customer, network velocity) and returns
/// the first that fails.
pub fn check_referral_with(
    referral: &ReferralAttempt,
    history: &ReferralHistory,
    rules: &FraudRules,
) -> FraudVerdict {
    let reason = self_referral(&referral.advocate, &referral.friend)
        .or_else(|| existing_customer(referral, history))
        .or_else(|| network_velocity(referral, history, rules));
    match reason {
        Some(reason) => FraudVerdict::Rejected(reason),
        None => FraudVerdict::Allowed,
    }
}

fn self_referral(advocate: &Party, friend: &Party) -> Option<RejectReason> {
    let same = |a: Option<String>, b: Option<String>| matches!((a, b), (Some(a), Some(b)) if a == b);
    if same(nonblank(&advocate.customer_id), nonblank(&friend.customer_id)) {
        return Some(RejectReason::SameCustomer);
    }
    let email = |p: &Party| p.email.as_deref().and_then(normalise_email);
    if same(email(advocate), email(friend)) {
        return Some(RejectReason::SameEmail);
    }
    let phone = |p: &Party| p.phone.as_deref().and_then(phone_digits);
    if let (Some(a), Some(b)) = (phone(advocate), phone(friend))
        && same_phone(&a, &b)
    {
        return Some(RejectReason::SamePhone);
    }
    let address = |p: &Party| p.shipping_address.as_ref().and_then(normalise_address);
    if same(address(advocate), address(friend)) {
        return Some(RejectReason::SameShippingAddress);
    }
    None
}

fn existing_customer(referral: &ReferralAttempt, history: &ReferralHistory) -> Option<RejectReason> {
    history
        .friend_paid_orders
        .iter()
        .filter(|paid_at| **paid_at < referral.placed_at)
        .min()
        .map(|first_paid_at| RejectReason::ExistingCustomer {
            first_paid_at: *first_paid_at,
        })
}

fn network_velocity(
    referral: &ReferralAttempt,
    history: &ReferralHistory,
    rules: &FraudRules,
) -> Option<RejectReason> {
    let ip = referral.client_ip?;
    let since = referral.placed_at - rules.ip_window;
    let earlier = history
        .referred_orders
        .iter()
        .filter(|o| o.order_id != referral.order_id)
        .filter(|o| o.placed_at > since && o.placed_at <= referral.placed_at)
        .filter(|o| same_network(o.client_ip, ip))
        .count();
    let orders = earlier + 1;
    (orders > rules.max_orders_per_ip).then_some(RejectReason::TooManyFromOneNetwork {
        orders,
        window: rules.ip_window,
    })
}

fn nonblank(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Lower-cased, without a `+tag` (most providers deliver `ann+1@x` to `ann@x`), and for Gmail
/// without dots in the local part, which Gmail ignores: the usual ways to mint a "new" friend.
pub fn normalise_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.rsplit_once('@')?;
    let local = local.split('+').next().unwrap_or_default();
    let (local, domain) = match domain {
        "gmail.com" | "googlemail.com" => (local.replace('.', ""), "gmail.com"),
        _ => (local.to_string(), domain),
    };
    (!local.is_empty() && !domain.is_empty()).then(|| format!("{local}@{domain}"))
}

/// The digits of a phone number, without an international `00` prefix; `None` when too short
/// to identify anyone.
pub fn phone_digits(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.strip_prefix("00").map(str::to_string).unwrap_or(digits);
    (digits.len() >= MIN_PHONE_DIGITS).then_some(digits)
}

/// Equal digits, or the same number written with and without a country code.
fn same_phone(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short == long || (short.len() >= MIN_PHONE_SUFFIX && long.ends_with(short))
}

/// Lower-case words of street, city, postcode and country, punctuation dropped, so
/// `"Via Roma, 1"` and `"via roma 1"` match. `None` without a street or postcode: two empty
/// addresses prove nothing.
pub fn normalise_address(address: &PostalAddress) -> Option<String> {
    let words = |s: &str| {
        s.to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let street = words(&format!("{} {}", address.line1, address.line2));
    let postcode = words(&address.postcode).replace(' ', "");
    if street.is_empty() || postcode.is_empty() {
        return None;
    }
    Some(format!(
        "{street}|{}|{postcode}|{}",
        words(&address.city),
        words(&address.country_code)
    ))
}

/// One address, or one IPv6 /64 (what a single home or phone is usually given), with
/// IPv4-mapped IPv6 treated as the IPv4 address.
fn same_network(a: IpAddr, b: IpAddr) -> bool {
    match (a.to_canonical(), b.to_canonical()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a == b,
        (IpAddr::V6(a), IpAddr::V6(b)) => a.segments()[..4] == b.segments()[..4],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, day, hour, 0, 0)
            .single()
            .expect("date")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn advocate() -> Party {
        Party {
            customer_id: Some("101".into()),
            email: Some("Anna.Rossi@gmail.com".into()),
            phone: Some("+39 333 123 4567".into()),
            shipping_address: Some(PostalAddress {
                line1: "Via Roma, 1".into(),
                line2: String::new(),
                city: "Milano".into(),
                postcode: "20121".into(),
                country_code: "IT".into(),
            }),
        }
    }

    fn friend() -> Party {
        Party {
            customer_id: Some("202".into()),
            email: Some("marco@example.it".into()),
            phone: Some("+39 347 765 4321".into()),
            shipping_address: Some(PostalAddress {
                line1: "Corso Buenos Aires 12".into(),
                line2: "Scala B".into(),
                city: "Milano".into(),
                postcode: "20124".into(),
                country_code: "IT".into(),
            }),
        }
    }

    fn attempt(friend: Party) -> ReferralAttempt {
        ReferralAttempt {
            order_id: "5001".into(),
            placed_at: at(10, 12),
            client_ip: Some(ip("203.0.113.7")),
            advocate: advocate(),
            friend,
        }
    }

    fn rejected(friend: Party) -> FraudVerdict {
        check_referral(&attempt(friend), &ReferralHistory::default())
    }

    #[test]
    fn an_honest_referral_is_allowed() {
        let history = ReferralHistory {
            // The friend's own referred order, paid after it was placed, does not count.
            friend_paid_orders: vec![at(10, 13)],
            referred_orders: vec![
                ReferredOrder {
                    order_id: "4001".into(),
                    placed_at: at(10, 1),
                    client_ip: ip("203.0.113.7"),
                },
                ReferredOrder {
                    order_id: "4002".into(),
                    placed_at: at(10, 2),
                    client_ip: ip("198.51.100.1"),
                },
            ],
        };
        assert_eq!(
            check_referral(&attempt(friend()), &history),
            FraudVerdict::Allowed
        );
    }

    #[test]
    fn the_same_customer_account_is_self_referral() {
        let me = Party {
            customer_id: Some(" 101 ".into()),
            ..friend()
        };
        assert_eq!(rejected(me), FraudVerdict::Rejected(RejectReason::SameCustomer));
    }

    #[test]
    fn the_same_email_in_disguise_is_self_referral() {
        for email in [
            "anna.rossi@gmail.com",
            " ANNAROSSI+friend@googlemail.com ",
            "a.n.n.a.rossi@Gmail.com",
        ] {
            let me = Party {
                email: Some(email.into()),
                ..friend()
            };
            assert_eq!(
                rejected(me),
                FraudVerdict::Rejected(RejectReason::SameEmail),
                "{email}"
            );
        }
        // Dots matter outside Gmail.
        assert_eq!(normalise_email("a.b@example.com"), Some("a.b@example.com".into()));
        assert_ne!(
            normalise_email("a.b@example.com"),
            normalise_email("ab@example.com")
        );
        assert_eq!(normalise_email("not-an-email"), None);
    }

    #[test]
    fn the_same_phone_in_another_format_is_self_referral() {
        for phone in ["0039 333 1234567", "333-123-4567", "(333) 1234567"] {
            let me = Party {
                phone: Some(phone.into()),
                ..friend()
            };
            assert_eq!(
                rejected(me),
                FraudVerdict::Rejected(RejectReason::SamePhone),
                "{phone}"
            );
        }
        // Too short to mean anything.
        assert_eq!(phone_digits("n/a"), None);
        assert!(!same_phone("4567", "3331234567"));
    }

    #[test]
    fn the_same_shipping_address_is_self_referral() {
        let me = Party {
            shipping_address: Some(PostalAddress {
                line1: "VIA ROMA 1".into(),
                line2: " ".into(),
                city: "milano".into(),
                postcode: "20 121".into(),
                country_code: "it".into(),
            }),
            ..friend()
        };
        assert_eq!(
            rejected(me),
            FraudVerdict::Rejected(RejectReason::SameShippingAddress)
        );
        assert_eq!(normalise_address(&PostalAddress::default()), None);
    }

    #[test]
    fn missing_details_are_not_matches() {
        let blank = Party::default();
        let mut a = attempt(blank.clone());
        a.advocate = blank;
        assert_eq!(
            check_referral(&a, &ReferralHistory::default()),
            FraudVerdict::Allowed
        );
    }

    #[test]
    fn an_existing_customer_is_not_a_new_friend() {
        let history = ReferralHistory {
            friend_paid_orders: vec![at(10, 14), at(2, 9)],
            ..Default::default()
        };
        let verdict = check_referral(&attempt(friend()), &history);
        assert_eq!(
            verdict,
            FraudVerdict::Rejected(RejectReason::ExistingCustomer {
                first_paid_at: at(2, 9)
            })
        );
        if let FraudVerdict::Rejected(reason) = verdict {
            assert_eq!(
                reason.to_string(),
                "the friend is already a customer (first paid order on 2025-03-02)"
            );
        }
    }

    #[test]
    fn a_fourth_referred_order_from_one_ip_in_a_day_is_rejected() {
        let from = |id: &str, placed_at, addr: &str| ReferredOrder {
            order_id: id.into(),
            placed_at,
            client_ip: ip(addr),
        };
        let history = ReferralHistory {
            friend_paid_orders: vec![],
            referred_orders: vec![
                from("5001", at(10, 12), "203.0.113.7"), // the attempt itself
                from("4001", at(9, 13), "203.0.113.7"),
                from("4002", at(10, 3), "::ffff:203.0.113.7"),
                from("4003", at(10, 11), "203.0.113.7"),
                from("3999", at(9, 11), "203.0.113.7"), // outside the 24 h window
            ],
        };
        let verdict = check_referral(&attempt(friend()), &history);
        let reason = RejectReason::TooManyFromOneNetwork {
            orders: 4,
            window: TimeDelta::hours(24),
        };
        assert_eq!(verdict, FraudVerdict::Rejected(reason.clone()));
        assert_eq!(
            reason.to_string(),
            "4 referred orders came from the same network within 24 hours"
        );

        // Three from the household are fine, and a shop can be stricter.
        let mut fewer = history.clone();
        fewer.referred_orders.retain(|o| o.order_id != "4003");
        assert_eq!(check_referral(&attempt(friend()), &fewer), FraudVerdict::Allowed);
        let strict = FraudRules {
            max_orders_per_ip: 1,
            ip_window: TimeDelta::hours(72),
        };
        assert!(matches!(
            check_referral_with(&attempt(friend()), &fewer, &strict),
            FraudVerdict::Rejected(RejectReason::TooManyFromOneNetwork { orders: 4, .. })
        ));
    }

    #[test]
    fn ipv6_addresses_in_one_slash_64_are_one_network() {
        assert!(same_network(ip("2001:db8:1:2::1"), ip("2001:db8:1:2:ffff::9")));
        assert!(!same_network(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1")));
        assert!(!same_network(ip("203.0.113.7"), ip("203.0.113.8")));
    }
}
