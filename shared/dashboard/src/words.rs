//! The page's words in English and Italian, chosen by the shop's locale.

/// The dashboard's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    It,
}

impl Lang {
    /// Italian for an `it` or `it-*` shop locale, else English.
    pub fn for_locale(locale: &str) -> Lang {
        let language = locale.split(['-', '_']).next().unwrap_or_default();
        if language.eq_ignore_ascii_case("it") {
            Lang::It
        } else {
            Lang::En
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::It => "it",
        }
    }

    /// The text for `key`; a key without a translation is shown as itself, which a test forbids.
    pub fn t(self, key: &'static str) -> &'static str {
        WORDS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map_or(key, |(_, en, it)| if self == Lang::It { it } else { en })
    }
}

/// (key, English, Italian).
pub const WORDS: &[(&str, &str, &str)] = &[
    ("title", "Retention dashboard", "Cruscotto della fidelizzazione"),
    ("customers", "Customers", "Clienti"),
    ("orders", "Orders", "Ordini"),
    (
        "revenue",
        "Revenue, net of refunds",
        "Fatturato al netto dei rimborsi",
    ),
    (
        "repeat_purchase_rate",
        "Repeat purchase rate",
        "Tasso di riacquisto",
    ),
    (
        "median_days",
        "Median days to second order",
        "Giorni mediani al secondo ordine",
    ),
    ("aov_first", "Average first order", "Primo ordine medio"),
    ("aov_repeat", "Average repeat order", "Ordine successivo medio"),
    ("ltv", "Lifetime value", "Valore nel tempo"),
    ("refund_rate", "Refund rate", "Tasso di rimborso"),
    ("points", "Loyalty points", "Punti fedeltà"),
    ("points_issued", "Points issued", "Punti emessi"),
    ("points_redeemed", "Points redeemed", "Punti riscattati"),
    ("points_expired", "Points expired", "Punti scaduti"),
    (
        "points_clawed_back",
        "Points taken back by refunds",
        "Punti stornati per rimborsi",
    ),
    (
        "points_outstanding",
        "Points outstanding (liability)",
        "Punti in circolazione (passività)",
    ),
    (
        "points_outstanding_available",
        "Of which spendable now",
        "Di cui spendibili ora",
    ),
    ("review_rate", "Review rate", "Tasso di recensione"),
    ("nps", "NPS", "NPS"),
    ("csat", "CSAT", "CSAT"),
    ("trends", "Monthly trends", "Andamento mensile"),
    (
        "orders_per_month",
        "Counted orders per month",
        "Ordini validi al mese",
    ),
    (
        "revenue_per_month",
        "Net revenue per month",
        "Fatturato netto al mese",
    ),
    (
        "cohorts",
        "Cohorts: share who ordered again",
        "Coorti: quota che ha riordinato",
    ),
    ("cohort", "First order month", "Mese del primo ordine"),
    ("by_month", "by month", "entro il mese"),
    ("flows", "Flows", "Flussi"),
    ("flow", "Flow", "Flusso"),
    ("planned", "Planned", "Pianificati"),
    ("sent", "Sent", "Inviati"),
    ("held_out", "Held out", "Esclusi (controllo)"),
    ("skipped", "Skipped", "Saltati"),
    ("deferred", "Deferred", "Rinviati"),
    ("failed", "Failed", "Falliti"),
    ("delivered", "Delivered", "Consegnati"),
    ("opened", "Opened", "Aperti"),
    ("clicked", "Clicked", "Cliccati"),
    ("unsubscribed", "Unsubscribed", "Disiscritti"),
    ("complained", "Complained", "Segnalati come spam"),
    ("converted", "Converted", "Convertiti"),
    (
        "attributed",
        "Attributed revenue (orders after a send, not all caused by it)",
        "Fatturato attribuito (ordini dopo un invio, non tutti causati da esso)",
    ),
    (
        "incremental",
        "Incremental revenue (against the holdout)",
        "Fatturato incrementale (rispetto al gruppo di controllo)",
    ),
    (
        "lift",
        "Lift against the holdout (95% interval)",
        "Incremento rispetto al controllo (intervallo al 95%)",
    ),
    ("not_enough", "not enough data yet", "dati ancora insufficienti"),
    ("pts", "pts", "punti"),
    (
        "mpp_note",
        "Apple Mail Privacy Protection opens messages by itself, so opens are inflated: clicks are the engagement figure to trust.",
        "Apple Mail Privacy Protection apre i messaggi da sé, quindi le aperture sono gonfiate: il dato di coinvolgimento affidabile sono i clic.",
    ),
    ("recent", "Recent skips and deferrals", "Salti e rinvii recenti"),
    ("when", "When", "Quando"),
    ("reason", "Reason", "Motivo"),
    ("none_yet", "Nothing yet.", "Ancora niente."),
    ("no_data", "no data", "nessun dato"),
    ("held_out_word", "held out", "esclusi"),
    ("sent_word", "sent", "inviati"),
    (
        "window",
        "attribution window, days",
        "finestra di attribuzione, giorni",
    ),
    ("holdout_share", "holdout", "gruppo di controllo"),
    ("deferral", "deferred", "rinviato"),
    ("skip", "skipped", "saltato"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_locale_picks_the_language() {
        assert_eq!(Lang::for_locale("it"), Lang::It);
        assert_eq!(Lang::for_locale("it-IT"), Lang::It);
        assert_eq!(Lang::for_locale("en-GB"), Lang::En);
        assert_eq!(Lang::for_locale(""), Lang::En);
        assert_eq!(Lang::It.t("customers"), "Clienti");
    }

    #[test]
    fn every_word_has_both_languages() {
        for (key, en, it) in WORDS {
            assert!(!en.is_empty() && !it.is_empty(), "{key}");
        }
        let mut keys: Vec<&str> = WORDS.iter().map(|w| w.0).collect();
        keys.sort();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "no key twice");
    }
}
