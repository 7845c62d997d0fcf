//! Lift against the holdout: the conversion rate of the customers who got a flow's message
//! minus that of those held out over the same days, with a 95% interval (Newcombe's hybrid
//! score interval, built from a Wilson interval per group). Rates are ratios of counts, so
//! floats are fine here; money stays decimal.

/// Fewer than this many messages in either group is "not enough data yet".
pub const MIN_SAMPLE: u64 = 30;
/// The normal quantile of a two-sided 95% interval.
const Z: f64 = 1.959_963_984_540_054;

/// The Wilson score interval of `successes` out of `n` (95%).
pub fn wilson(successes: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 || successes > n {
        return None;
    }
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// The lift of a treated group over a control group.
#[derive(Debug, Clone, PartialEq)]
pub struct Lift {
    pub treated_rate: f64,
    pub control_rate: f64,
    /// `treated_rate - control_rate`.
    pub difference: f64,
    pub interval: (f64, f64),
    /// `difference / control_rate`; `None` when nobody in the control group converted.
    pub relative: Option<f64>,
}

/// Newcombe's method 10 for `p1 - p0`. `None` below [`MIN_SAMPLE`] in either group.
pub fn lift(converted: u64, sent: u64, control_converted: u64, held_out: u64) -> Option<Lift> {
    if sent < MIN_SAMPLE || held_out < MIN_SAMPLE {
        return None;
    }
    let (l1, u1) = wilson(converted, sent)?;
    let (l0, u0) = wilson(control_converted, held_out)?;
    let p1 = converted as f64 / sent as f64;
    let p0 = control_converted as f64 / held_out as f64;
    let d = p1 - p0;
    let lower = d - ((p1 - l1).powi(2) + (u0 - p0).powi(2)).sqrt();
    let upper = d + ((u1 - p1).powi(2) + (p0 - l0).powi(2)).sqrt();
    Some(Lift {
        treated_rate: p1,
        control_rate: p0,
        difference: d,
        interval: (lower, upper),
        relative: (p0 > 0.0).then(|| d / p0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.000_05
    }

    #[test]
    fn wilson_matches_newcombes_published_examples() {
        // Newcombe (1998), "Two-sided confidence intervals for the single proportion", table I.
        let (l, u) = wilson(81, 263).unwrap();
        assert!(close(l, 0.2553) && close(u, 0.3662), "{l} {u}");
        let (l, u) = wilson(15, 148).unwrap();
        assert!(close(l, 0.0624) && close(u, 0.1605), "{l} {u}");
        let (l, u) = wilson(0, 20).unwrap();
        assert!(close(l, 0.0) && close(u, 0.1611), "{l} {u}");
    }

    #[test]
    fn newcombe_difference_matches_the_published_example() {
        // Newcombe (1998), "Interval estimation for the difference between independent
        // proportions", example (a): 56/70 - 48/80, method 10: 0.0524 to 0.3339.
        let lift = lift(56, 70, 48, 80).unwrap();
        assert!(close(lift.difference, 0.2), "{}", lift.difference);
        assert!(close(lift.interval.0, 0.0524), "{:?}", lift.interval);
        assert!(close(lift.interval.1, 0.3339), "{:?}", lift.interval);
        assert!(close(lift.relative.unwrap(), 0.2 / 0.6));
    }

    #[test]
    fn small_groups_are_not_enough_data() {
        assert_eq!(lift(5, 29, 1, 200), None);
        assert_eq!(lift(5, 200, 1, 29), None);
        assert!(lift(5, 30, 1, 30).is_some());
    }
}
