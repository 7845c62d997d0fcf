use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("'{0}' is not an ISO 4217 currency code (three letters)")]
    BadCurrency(String),
    /// The text is not kept: amounts come from payloads, and errors end up in logs.
    #[error("is not a decimal amount")]
    BadAmount,
    #[error("is implausibly large (more than {MAX_AMOUNT} in any currency)")]
    Implausible,
    #[error("cannot combine {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("the sum is implausibly large (more than {MAX_AMOUNT} in any currency)")]
    Overflow,
}

/// The largest amount a platform may send, in absolute value. A real order in any currency
/// (even one where a coffee costs 50,000) is far below it; anything above is a buggy or
/// hostile payload. Keeping every parsed amount under it means sums of amounts stay exact
/// and far from `Decimal::MAX`, where `+` would panic.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);

/// An ISO 4217 code such as `EUR`, stored upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn new(code: &str) -> Result<Self, MoneyError> {
        let upper = code.trim().to_ascii_uppercase();
        match upper.as_bytes() {
            [a, b, c] if upper.bytes().all(|b| b.is_ascii_uppercase()) => Ok(Self([*a, *b, *c])),
            _ => Err(MoneyError::BadCurrency(code.to_string())),
        }
    }
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(s: String) -> Result<Self, MoneyError> {
        Self::new(&s)
    }
}
impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_string()
    }
}
impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decimal amount in one currency. Never a float: `0.1 + 0.2` must be `0.3` on a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount: Decimal,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Self { amount, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Self::new(Decimal::ZERO, currency)
    }

    /// Parses the decimal strings platforms send (`"29.35"`, `"-10.00"`), refusing amounts
    /// beyond [`MAX_AMOUNT`].
    pub fn parse(amount: &str, currency: Currency) -> Result<Self, MoneyError> {
        let amount: Decimal = amount.trim().parse().map_err(|_| MoneyError::BadAmount)?;
        if amount.abs() > MAX_AMOUNT {
            return Err(MoneyError::Implausible);
        }
        Ok(Self::new(amount, currency))
    }

    /// Adds two amounts of one currency; a sum beyond [`MAX_AMOUNT`] is refused, never a panic.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        let sum = self
            .amount
            .checked_add(other.amount)
            .filter(|sum| sum.abs() <= MAX_AMOUNT)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(sum, self.currency))
    }

    /// Adds up amounts that were stored, not parsed, so cannot be refused any more: a record
    /// written before amounts were bounded may hold anything. Saturates at `Decimal::MAX`
    /// instead of panicking, which still reads as "more than the order is worth".
    pub fn saturating_sum(amounts: impl IntoIterator<Item = Decimal>) -> Decimal {
        amounts
            .into_iter()
            .fold(Decimal::ZERO, |sum, amount| sum.saturating_add(amount))
    }

    pub fn abs(self) -> Money {
        Money::new(self.amount.abs(), self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_arithmetic_is_exact() {
        let eur = Currency::new("eur").unwrap();
        let a = Money::parse("0.10", eur).unwrap();
        let b = Money::parse("0.20", eur).unwrap();
        assert_eq!(a.checked_add(b).unwrap(), Money::parse("0.30", eur).unwrap());
    }

    #[test]
    fn currencies_must_match_and_be_valid() {
        let eur = Currency::new("EUR").unwrap();
        let usd = Currency::new("USD").unwrap();
        assert!(Money::zero(eur).checked_add(Money::zero(usd)).is_err());
        assert!(Currency::new("EURO").is_err());
        assert!(Currency::new("E1R").is_err());
        assert!(Money::parse("12,5", eur).is_err());
    }

    #[test]
    fn implausible_amounts_are_refused_and_sums_never_panic() {
        let eur = Currency::new("EUR").unwrap();
        assert_eq!(MAX_AMOUNT.to_string(), "1000000000000");
        assert_eq!(
            Money::parse("79228162514264337593543950335", eur),
            Err(MoneyError::Implausible)
        );
        assert_eq!(Money::parse("-1000000000001", eur), Err(MoneyError::Implausible));
        let most = Money::parse("1000000000000", eur).unwrap();
        assert_eq!(most.checked_add(most), Err(MoneyError::Overflow));
        assert_eq!(
            Money::saturating_sum([Decimal::MAX, Decimal::MAX]),
            Decimal::MAX,
            "stored values beyond the bound saturate"
        );
        let reason = Money::parse("laura@example.com", eur).unwrap_err().to_string();
        assert!(!reason.contains("laura"), "{reason}");
    }

    #[test]
    fn money_serialises_amount_as_string() {
        let m = Money::parse("29.35", Currency::new("USD").unwrap()).unwrap();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"amount":"29.35","currency":"USD"}"#
        );
    }
}
