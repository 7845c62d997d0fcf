//! Order statistics over exact values (durations, decimal amounts): no floats, so a learned
//! parameter is reproducible to the second and the cent.

use chrono::Duration;

/// The nearest-rank percentile of `sorted` (ascending): the smallest value with at least
/// `percentile`% of the values at or below it. `None` for no values; percentiles above 100
/// are read as 100, and 0 as the smallest value.
pub(crate) fn nearest_rank<T: Copy>(sorted: &[T], percentile: u8) -> Option<T> {
    let n = sorted.len();
    let p = usize::from(percentile.min(100));
    let rank = (p * n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// The median duration; for an even count, the midpoint of the middle two.
pub(crate) fn median(values: &mut [Duration]) -> Option<Duration> {
    values.sort_unstable();
    let n = values.len();
    let upper = *values.get(n / 2)?;
    if n % 2 == 1 {
        return Some(upper);
    }
    let lower = values[n / 2 - 1];
    Some(lower + (upper - lower) / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_matches_the_textbook_examples() {
        // The classic example: 15, 20, 35, 40, 50.
        let values = [15, 20, 35, 40, 50];
        assert_eq!(nearest_rank(&values, 5), Some(15));
        assert_eq!(nearest_rank(&values, 30), Some(20));
        assert_eq!(nearest_rank(&values, 40), Some(20));
        assert_eq!(nearest_rank(&values, 50), Some(35));
        assert_eq!(nearest_rank(&values, 100), Some(50));
        assert_eq!(nearest_rank(&values, 0), Some(15));
        assert_eq!(nearest_rank(&values, 255), Some(50));
        assert_eq!(nearest_rank::<i32>(&[], 80), None);
        let ten: Vec<i32> = (1..=10).collect();
        assert_eq!(nearest_rank(&ten, 80), Some(8));
        assert_eq!(nearest_rank(&ten, 81), Some(9));
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        let d = Duration::days;
        assert_eq!(median(&mut [d(9), d(1), d(5)]), Some(d(5)));
        assert_eq!(median(&mut [d(4), d(1), d(2), d(30)]), Some(d(3)));
        assert_eq!(median(&mut [d(2), d(1)]), Some(Duration::hours(36)));
        assert_eq!(median(&mut []), None);
        assert_eq!(
            median(&mut [Duration::seconds(1), Duration::seconds(2)]),
            Some(Duration::milliseconds(1500)),
            "exact to the sub-second, no rounding through floats"
        );
    }
}
