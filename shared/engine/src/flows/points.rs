//! Loyalty points at work: every order event of a customer brings their ledger up to date
//! with the order's folded state (earn, clawback, cancellation, pending → available), and the
//! points messages are planned from what the ledger then says. The rules are pure, in
//! `aftersale_domain::points`; this module loads what they need and appends what they decide.
//!
//! The ledger is one document per customer (`customer#{id}#points`), written with a versioned
//! conditional write: an append, its cached balance and the check that the cache equals the
//! entries happen together or not at all, and two events racing on one customer retry. Entry
//! ids come from their sources, so a redelivered or replayed event appends nothing.

use super::discount_codes::{create_discount, money, parse_code};
use super::vip::Birthday;
use super::{FlowJob, Held, OrderEvent, Prepared, id_safe};
use crate::Engine;
use aftersale_domain::flows::points::{
    Payload as PointsPayload, Step, activity_subject, birthday_subject, message,
};
use aftersale_domain::flows::vip::{TierStatus, next_birthday};
use aftersale_domain::points::{
    self, Campaign, Earning, Entry, Ledger, RewardOption, Source, ids, order_entries, welcome_bonus,
};
use aftersale_domain::{
    Currency, CustomerId, DeferReason, DueBasis, FailReason, Flow, Message, MessageId, MessageStatus, Money,
    OrderRecord, Origin, ShopConfig, ShopId, SkipReason, StoreEvent,
};
use aftersale_ports::documents::{self, keys};
use aftersale_ports::{StoreError, lifecycle};
use aftersale_rewards::{
    CodePrefix, CustomerEligibility, DiscountCode, DiscountRequest, DiscountValue, UsageLimit,
};
use async_trait::async_trait;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use tracing::warn;

pub(super) struct Job;

#[async_trait]
impl FlowJob for Job {
    fn flow(&self) -> Flow {
        Flow::Points
    }

    async fn plan(&self, engine: &Engine, event: &OrderEvent<'_>) -> Result<usize, StoreError> {
        let Some(customer) = event.record.customer_id() else {
            return Ok(0);
        };
        let shop = &event.event.shop;
        let (ledger, new) = sync_order(engine, shop, customer, event.record, event.config, event.now).await?;
        if !new.is_empty() {
            // A birthday given before points were switched on is planned once the customer
            // has a ledger.
            plan_stored_birthday(engine, shop, customer, event.config, event.now).await?;
        }
        plan_messages(
            engine,
            shop,
            customer,
            &ledger,
            &new,
            event.record,
            event.config,
            event.event.origin,
            event.now,
        )
        .await
    }

    async fn recheck(
        &self,
        engine: &Engine,
        message: Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        recheck(engine, message, config, now).await
    }

    /// A reward code is created in the shop before its message goes (if the page could not).
    async fn prepare(
        &self,
        engine: &Engine,
        message: Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        if message.step != Step::RewardCode {
            return Ok(Prepared::Proceed(Box::new(message)));
        }
        create_reward_code(engine, message, config, now).await
    }
}

/// Brings the customer's ledger up to date with one order (and credits the welcome bonus on
/// their first order seen). Returns the ledger and the entries appended.
async fn sync_order(
    engine: &Engine,
    shop: &ShopId,
    customer: &CustomerId,
    record: &OrderRecord,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<(Ledger, Vec<Entry>), StoreError> {
    let store = engine.store.as_ref();
    let tier = documents::load::<TierStatus, _>(store, shop, &keys::customer_tier(customer))
        .await?
        .and_then(|t| t.value.tier)
        .map(|t| t.0);
    let campaigns = campaigns(engine, shop).await?;
    let earning = Earning {
        config: &config.points,
        campaigns: &campaigns,
        tier: tier.as_deref(),
    };
    append(engine, shop, customer, |ledger| {
        let mut scratch = ledger.clone();
        let mut new: Vec<Entry> = welcome_bonus(&scratch, &config.points, now).into_iter().collect();
        scratch.extend(new.clone());
        new.extend(order_entries(&scratch, record, earning, now));
        new
    })
    .await
}

/// Plans what the ledger's state calls for after an order event: the welcome when its bonus
/// was just credited, the order's "now available" for when its points mature, and the expiry
/// messages. Each is keyed, so planning twice stores once.
#[allow(clippy::too_many_arguments)]
async fn plan_messages(
    engine: &Engine,
    shop: &ShopId,
    customer: &CustomerId,
    ledger: &Ledger,
    new: &[Entry],
    record: &OrderRecord,
    config: &ShopConfig,
    origin: Origin,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut planned = plan_welcome(engine, shop, customer, new, origin, now).await?;
    let order = &record.order_id;
    let pending =
        ledger.contains(&ids::earn(order)) && !ledger.contains(&ids::available(order)) && !record.is_void();
    if pending && let Some(at) = points::available_at(record, &config.points) {
        // Known once the delivery is (or when counting from payment); until then the estimate
        // moves to the known time when the delivery arrives.
        let known = record.delivered_at.is_some() || config.points.pending_from == points::PendingFrom::Paid;
        let basis = if known {
            DueBasis::Known
        } else {
            DueBasis::Estimated
        };
        let available = message(
            shop,
            customer,
            Step::Available,
            order.to_string(),
            Some(order),
            (at, basis),
            now,
        );
        planned += engine.plan_or_reschedule(vec![available], origin).await?;
    }
    planned += plan_expiry(engine, shop, customer, ledger, config, origin, now).await?;
    Ok(planned)
}

/// The welcome message, when its bonus was just credited (`new`).
async fn plan_welcome(
    engine: &Engine,
    shop: &ShopId,
    customer: &CustomerId,
    new: &[Entry],
    origin: Origin,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    if !new.iter().any(|e| e.id == ids::welcome()) {
        return Ok(0);
    }
    let welcome = message(
        shop,
        customer,
        Step::Welcome,
        "bonus".into(),
        None,
        (now, DueBasis::Known),
        now,
    );
    engine.plan_once(welcome, origin).await
}

/// A new customer account (`customers/create`): "you join with 100 points" from the sign-up
/// on, not only from a first order. Once per customer, like the order path's.
pub(crate) async fn on_sign_up(
    engine: &Engine,
    event: &StoreEvent,
    customer: &CustomerId,
) -> Result<usize, StoreError> {
    if !engine.settings.flows.contains(&Flow::Points) {
        return Ok(0);
    }
    let shop = &event.shop;
    let config = engine.config(shop).await?;
    if !config.points.enabled || config.points.welcome_bonus == 0 {
        return Ok(0);
    }
    let now = engine.clock.now();
    let (ledger, new) = append(engine, shop, customer, |ledger| {
        welcome_bonus(ledger, &config.points, now).into_iter().collect()
    })
    .await?;
    let mut planned = plan_welcome(engine, shop, customer, &new, event.origin, now).await?;
    if !new.is_empty() {
        planned += plan_expiry(engine, shop, customer, &ledger, &config, event.origin, now).await?;
    }
    Ok(planned)
}

/// The expiry warning and the expiry, counted from the customer's last activity. Older ones
/// (counted from an earlier activity) find themselves moot when due.
async fn plan_expiry(
    engine: &Engine,
    shop: &ShopId,
    customer: &CustomerId,
    ledger: &Ledger,
    config: &ShopConfig,
    origin: Origin,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let (Some(since), Some(warn_at), Some(expire_at)) = (
        ledger.last_activity(),
        points::expiry_warning_at(ledger, &config.points),
        points::expires_at(ledger, &config.points),
    ) else {
        return Ok(0);
    };
    let subject = activity_subject(since);
    let mut planned = 0;
    for (step, at) in [(Step::ExpiryWarning, warn_at), (Step::Expiry, expire_at)] {
        let planned_message = message(
            shop,
            customer,
            step,
            subject.clone(),
            None,
            (at, DueBasis::Known),
            now,
        );
        planned += engine.plan_once(planned_message, origin).await?;
    }
    Ok(planned)
}

/// The re-check when a points message falls due: the ledger moves first (pending →
/// available, expiry), then the message says what it now holds, or is dropped if moot.
async fn recheck(
    engine: &Engine,
    mut message: Message,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<Prepared, StoreError> {
    let shop = message.shop.clone();
    let customer = message.customer_id.clone();
    let Some(step) = Step::of(message.step) else {
        return Ok(Prepared::skip(SkipReason::NoPoints));
    };
    let ledger = match step {
        Step::Available => {
            let Some(order) = message.order_id.clone() else {
                return Ok(Prepared::skip(SkipReason::OrderNotFound));
            };
            let Some(record) = engine.store.load_order(&shop, &order).await? else {
                return Ok(Prepared::skip(SkipReason::OrderNotFound));
            };
            let (ledger, _) = sync_order(engine, &shop, &customer, &record.value, config, now).await?;
            if !ledger.contains(&ids::available(&order)) {
                let later = points::available_at(&record.value, &config.points).filter(|at| *at > now);
                return Ok(match later {
                    Some(at) if !record.value.is_void() && ledger.contains(&ids::earn(&order)) => {
                        Prepared::defer(message, at, DeferReason::HoldingPeriod)
                    }
                    _ => Prepared::skip(SkipReason::NoPoints),
                });
            }
            let made = ledger.entry(&ids::available(&order)).map_or(0, |e| e.points);
            message.payload.points_mut().points = Some(made);
            ledger
        }
        Step::Welcome => {
            let ledger = load(engine, &shop, &customer).await?;
            let Some(bonus) = ledger.entry(&ids::welcome()) else {
                return Ok(Prepared::skip(SkipReason::NoPoints));
            };
            message.payload.points_mut().points = Some(bonus.points);
            ledger
        }
        Step::ExpiryWarning | Step::Expiry => {
            let ledger = load(engine, &shop, &customer).await?;
            if ledger.last_activity().map(activity_subject).as_deref() != Some(message.subject.as_str()) {
                return Ok(Prepared::skip(SkipReason::PointsActiveSince));
            }
            if ledger.balance().available <= 0 {
                return Ok(Prepared::skip(SkipReason::NoPoints));
            }
            if step == Step::Expiry {
                append(engine, &shop, &customer, |l| {
                    points::expiry(l, &config.points, now).into_iter().collect()
                })
                .await?;
                return Ok(Prepared::skip(SkipReason::LedgerOnly));
            }
            if let Some(at) = points::expires_at(&ledger, &config.points) {
                message.payload.points_mut().expires_at = Some(at);
            }
            message.payload.points_mut().points = Some(ledger.balance().available);
            ledger
        }
        Step::RewardCode => load(engine, &shop, &customer).await?,
        Step::Birthday => match credit_birthday(engine, &mut message, config, now).await? {
            Ok(ledger) => ledger,
            Err(reason) => return Ok(Prepared::skip(reason)),
        },
    };
    let balance = ledger.balance();
    let payload = message.payload.points_mut();
    payload.available = Some(balance.available);
    payload.pending = Some(balance.pending);
    Ok(Prepared::Proceed(Box::new(message)))
}

/// The zone a customer's dates are in: their own, else the shop's.
async fn customer_zone(
    engine: &Engine,
    shop: &ShopId,
    customer: &CustomerId,
    config: &ShopConfig,
) -> Result<Tz, StoreError> {
    let profile = engine.store.load_customer(shop, customer).await?;
    Ok(profile.and_then(|c| c.time_zone).unwrap_or(config.time_zone))
}

/// Plans the birthday bonus for the customer's next birthday on or after `after` (its local
/// day), due in their morning, when the shop gives one. Keyed by the day, so planning twice
/// stores once and a changed birthday is a new message. Returns when it is due.
pub(crate) async fn plan_birthday_bonus(
    engine: &Engine,
    shop: &ShopId,
    customer: &CustomerId,
    birthday: Birthday,
    config: &ShopConfig,
    after: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    if !config.points.enabled || config.points.birthday_bonus == 0 {
        return Ok(None);
    }
    let tz = customer_zone(engine, shop, customer, config).await?;
    let Some(at) = next_birthday(birthday.month, birthday.day, after, tz) else {
        return Ok(None);
    };
    let on = at.with_timezone(&tz).date_naive();
    let planned = message(
        shop,
        customer,
        Step::Birthday,
        birthday_subject(on),
        None,
        (at, DueBasis::Known),
        engine.clock.now(),
    );
    engine.plan_once(planned, Origin::Live).await?;
    Ok(Some(at))
}

/// The customer's stored birthday, planned (nothing if they gave none).
async fn plan_stored_birthday(
    engine: &Engine,
    shop: &ShopId,
    customer: &CustomerId,
    config: &ShopConfig,
    after: DateTime<Utc>,
) -> Result<(), StoreError> {
    if !config.points.enabled || config.points.birthday_bonus == 0 {
        return Ok(());
    }
    let stored =
        documents::load::<Birthday, _>(engine.store.as_ref(), shop, &keys::customer_birthday(customer))
            .await?;
    if let Some(birthday) = stored {
        plan_birthday_bonus(engine, shop, customer, birthday.value, config, after).await?;
    }
    Ok(())
}

/// The re-check of a birthday message: credits the year's bonus if that day is still the
/// customer's birthday (once a year, whatever the ticks), plans next year's, and says
/// whether there is anything to tell. A changed birthday plans the new day instead.
async fn credit_birthday(
    engine: &Engine,
    message: &mut Message,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<Result<Ledger, SkipReason>, StoreError> {
    let (shop, customer) = (message.shop.clone(), message.customer_id.clone());
    let Ok(on) = NaiveDate::parse_from_str(&message.subject, "%Y-%m-%d") else {
        return Ok(Err(SkipReason::NoPoints));
    };
    let stored =
        documents::load::<Birthday, _>(engine.store.as_ref(), &shop, &keys::customer_birthday(&customer))
            .await?;
    let Some(birthday) = stored.map(|b| b.value) else {
        return Ok(Err(SkipReason::BirthdayChanged));
    };
    let day = (birthday.month, birthday.day);
    if points::birthday_in(on.year(), day) != Some(on) {
        plan_birthday_bonus(engine, &shop, &customer, birthday, config, now).await?;
        return Ok(Err(SkipReason::BirthdayChanged));
    }
    let tz = customer_zone(engine, &shop, &customer, config).await?;
    let (ledger, _) = append(engine, &shop, &customer, |l| {
        points::birthday_bonus(l, &config.points, day, on, tz, now)
            .into_iter()
            .collect()
    })
    .await?;
    // Next year's: the day after this one is past this birthday in every zone.
    plan_birthday_bonus(
        engine,
        &shop,
        &customer,
        birthday,
        config,
        now + Duration::days(1),
    )
    .await?;
    let Some(credited) = ledger.entry(&ids::birthday(on.year())) else {
        return Ok(Err(SkipReason::NoPoints));
    };
    if credited.at.with_timezone(&tz).date_naive() < on {
        return Ok(Err(SkipReason::BirthdayBonusAlreadyGiven));
    }
    if !config.points.birthday_message {
        return Ok(Err(SkipReason::LedgerOnly));
    }
    message.payload.points_mut().points = Some(credited.points);
    Ok(Ok(ledger))
}

/// The shop's double-points campaigns.
pub(crate) async fn campaigns(engine: &Engine, shop: &ShopId) -> Result<Vec<Campaign>, StoreError> {
    Ok(
        documents::list::<Campaign, _>(engine.store.as_ref(), shop, keys::POINTS_CAMPAIGNS_PREFIX)
            .await?
            .into_iter()
            .map(|(_, c)| c)
            .collect(),
    )
}

/// The customer's ledger, its cached balance checked against its entries.
pub(crate) async fn load(
    engine: &Engine,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<Ledger, StoreError> {
    let key = keys::customer_points(customer);
    let ledger = documents::load::<Ledger, _>(engine.store.as_ref(), shop, &key)
        .await?
        .map(|v| v.value)
        .unwrap_or_default();
    ledger.check().map_err(|err| StoreError::Corrupt {
        what: format!("document {key}"),
        detail: err.to_string(),
    })?;
    Ok(ledger)
}

/// Appends what `decide` returns for the ledger as stored, in one conditional write retried on
/// a concurrent one. Returns the ledger as now stored and the entries this call appended.
pub(crate) async fn append(
    engine: &Engine,
    shop: &ShopId,
    customer: &CustomerId,
    mut decide: impl FnMut(&Ledger) -> Vec<Entry> + Send,
) -> Result<(Ledger, Vec<Entry>), StoreError> {
    let key = keys::customer_points(customer);
    let mut appended = Vec::new();
    let mut corrupt = None;
    let stored = documents::update::<Ledger, _, _>(engine.store.as_ref(), shop, &key, |current| {
        let mut ledger = current.cloned().unwrap_or_default();
        if let Err(err) = ledger.check() {
            corrupt = Some(err);
            return None;
        }
        appended = decide(&ledger)
            .into_iter()
            .filter(|e| !ledger.contains(&e.id))
            .collect();
        if appended.is_empty() {
            return None;
        }
        ledger.extend(appended.clone());
        Some(ledger)
    })
    .await?;
    if let Some(err) = corrupt {
        return Err(StoreError::Corrupt {
            what: format!("document {key}"),
            detail: err.to_string(),
        });
    }
    let ledger = stored.unwrap_or_default();
    if !appended.is_empty()
        && let Err(err) =
            aftersale_metrics::rollups::refresh_points(engine.store.as_ref(), shop, customer).await
    {
        warn!(error = %err, "points metrics not updated; the next append or `aftersale metrics rebuild` catches up");
    }
    Ok((ledger, appended))
}

/// Why a manual adjustment or a campaign was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum PointsError {
    #[error(transparent)]
    Adjust(#[from] points::AdjustError),
    #[error(transparent)]
    Campaign(#[from] points::CampaignError),
    #[error("points are not switched on for {0}: set [points] enabled = true in its config")]
    Disabled(ShopId),
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl Engine {
    /// A customer's ledger, for `aftersale points` and the customer's data export.
    pub async fn points_ledger(&self, shop: &ShopId, customer: &CustomerId) -> Result<Ledger, StoreError> {
        load(self, shop, customer).await
    }

    /// Records a manual adjustment by `by` with its reason, and returns the entry appended.
    /// Points off the shop refuse it, so a typo in a shop name cannot start a ledger.
    pub async fn adjust_points(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
        points: i64,
        by: &str,
        reason: &str,
    ) -> Result<(Entry, Ledger), PointsError> {
        let config = self.config(shop).await?;
        if !config.points.enabled {
            return Err(PointsError::Disabled(shop.clone()));
        }
        let now = self.clock.now();
        // Checked before the write, so a bad request stores nothing; the entry's nonce (how
        // many entries came before it) is only known inside the write.
        points::adjustment(points, by, reason, now, "0")?;
        let (ledger, appended) = append(self, shop, customer, |ledger| {
            let nonce = ledger.entries().len().to_string();
            points::adjustment(points, by, reason, now, &nonce)
                .into_iter()
                .collect()
        })
        .await?;
        let entry = appended
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::backend("the adjustment was not appended"))?;
        // The adjustment is activity: the expiry clock starts again.
        plan_expiry(self, shop, customer, &ledger, &config, Origin::Live, now).await?;
        Ok((entry, ledger))
    }

    /// Credits the review bonus for a rating of `product` of `order`, given through a review
    /// request's link: once per product of an order, whatever the stars, and nothing when the
    /// shop gives none. Returns the entry appended.
    pub(crate) async fn credit_review_bonus(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
        order: &aftersale_domain::OrderId,
        product: &str,
        config: &ShopConfig,
    ) -> Result<Option<Entry>, StoreError> {
        if !config.points.enabled || config.points.review_bonus == 0 {
            return Ok(None);
        }
        let now = self.clock.now();
        let (ledger, appended) = append(self, shop, customer, |ledger| {
            points::review_bonus(ledger, &config.points, order, product, now)
                .into_iter()
                .collect()
        })
        .await?;
        if !appended.is_empty() {
            // Being given points is activity: the expiry clock starts again.
            plan_expiry(self, shop, customer, &ledger, config, Origin::Live, now).await?;
        }
        Ok(appended.into_iter().next())
    }

    /// Stores a double-points window, given in the shop's local time. The same window and
    /// multiplier created twice is stored once.
    pub async fn create_points_campaign(
        &self,
        shop: &ShopId,
        multiplier: &str,
        from: &str,
        to: &str,
    ) -> Result<(Campaign, bool), PointsError> {
        let config = self.config(shop).await?;
        if !config.points.enabled {
            return Err(PointsError::Disabled(shop.clone()));
        }
        let campaign = Campaign::parse(multiplier, from, to, config.time_zone)?;
        let created = documents::insert(
            self.store.as_ref(),
            shop,
            &keys::points_campaign(&campaign.id),
            &campaign,
        )
        .await?;
        Ok((campaign, created))
    }

    /// The shop's double-points windows, earliest first.
    pub async fn points_campaigns(&self, shop: &ShopId) -> Result<Vec<Campaign>, StoreError> {
        let mut all = campaigns(self, shop).await?;
        all.sort_by_key(|c| c.from);
        Ok(all)
    }
}

/// What choosing a reward on the points page did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Redemption {
    /// The code exists in the shop: show it.
    Code {
        code: String,
        reward: RewardOption,
        available: i64,
    },
    /// The points are debited and the code is on its way: retried until it exists, and emailed.
    Creating { reward: RewardOption, available: i64 },
    /// Not enough available points; nothing was debited.
    NotEnough { needed: i64, available: i64 },
    /// The link names a reward the shop no longer offers; nothing was debited.
    NoSuchReward,
    /// The shop cannot create codes (no Admin API, uninstalled); nothing is debited, or the
    /// debit was given back.
    Unavailable,
}

/// The stored id of one redemption: the message whose link it came from, so a link is good
/// for one reward however often it is followed.
fn redemption_id(link_message: &MessageId) -> String {
    id_safe(link_message.as_str())
}

impl Engine {
    /// Turns `points` into the shop's reward of that cost for the customer, exactly once per
    /// link (`link_message`): the debit and the code it will carry are one conditional append,
    /// so a double tap or two racing taps debit once and show the same code. The code is
    /// created at once when the shop answers; otherwise the reward-code message keeps trying
    /// (and support hears) until it exists, and a shop that can no longer create codes gets
    /// the points back.
    pub(crate) async fn redeem_points(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
        link_message: &MessageId,
        points: u32,
        config: &ShopConfig,
        locale: &str,
    ) -> Result<Redemption, StoreError> {
        let now = self.clock.now();
        let Some(option) = config.points.rewards.iter().find(|r| r.points == points).cloned() else {
            return Ok(Redemption::NoSuchReward);
        };
        let shop_state = self.store.load_shop(shop).await?;
        let makes_codes =
            config.admin_api.is_some() || shop_state.as_ref().is_some_and(|s| s.has_app_install());
        if !makes_codes || shop_state.as_ref().is_some_and(|s| !s.is_installed()) {
            return Ok(Redemption::Unavailable);
        }
        let redemption = redemption_id(link_message);
        let fresh =
            DiscountCode::generate(&CodePrefix::new(REWARD_CODE_PREFIX).map_err(StoreError::backend)?);
        let mut refused = None;
        let (ledger, appended) = append(self, shop, customer, |ledger| {
            if ledger.contains(&ids::redeem(&redemption)) {
                return Vec::new();
            }
            match points::redeem(ledger, &option, &redemption, Some(fresh.as_str()), now) {
                Ok(entry) => vec![entry],
                Err(err) => {
                    refused = Some(err);
                    Vec::new()
                }
            }
        })
        .await?;
        if let Some(points::RedeemError::NotEnough { needed, available }) = refused {
            return Ok(Redemption::NotEnough { needed, available });
        }
        let code = match ledger.entry(&ids::redeem(&redemption)).map(|e| &e.source) {
            Some(Source::Reward { code: Some(code), .. }) => code.clone(),
            _ => return Ok(Redemption::Unavailable),
        };
        let available = ledger.balance().available;
        let currency = points_currency(self, shop, customer).await?;
        let mut planned = message(
            shop,
            customer,
            Step::RewardCode,
            redemption.clone(),
            None,
            (now, DueBasis::Known),
            now,
        );
        planned.payload = reward_payload(&option, &code, currency, available, locale).into();
        self.plan_once(planned.clone(), Origin::Live).await?;
        let Some(stored) = self.store.load_message(shop, customer, &planned.id()).await? else {
            return Ok(Redemption::Creating {
                reward: option,
                available,
            });
        };
        if stored
            .payload
            .points()
            .is_some_and(|p| p.discount.discount_created.is_some())
        {
            return Ok(Redemption::Code {
                code,
                reward: option,
                available,
            });
        }
        // Only the tap that debited tries now; a second tap finds the first one's work.
        if appended.is_empty() || stored.status != MessageStatus::Planned {
            return Ok(Redemption::Creating {
                reward: option,
                available,
            });
        }
        match create_reward_code(self, stored, config, now).await? {
            Prepared::Proceed(created) => {
                match self.store.update_message(&created).await {
                    Ok(_) | Err(StoreError::Conflict { .. }) => {}
                    Err(err) => return Err(err),
                }
                Ok(Redemption::Code {
                    code,
                    reward: option,
                    available,
                })
            }
            Prepared::Held(Held::Skip(_) | Held::Fail(_)) => Ok(Redemption::Unavailable),
            Prepared::Held(_) => Ok(Redemption::Creating {
                reward: option,
                available,
            }),
        }
    }
}

/// Reward codes look like `PTS-K7M2P9QX4R`.
const REWARD_CODE_PREFIX: &str = "PTS";

/// What the reward-code message carries: the code, what it is worth, and how to create it.
fn reward_payload(
    option: &RewardOption,
    code: &str,
    currency: Option<Currency>,
    available: i64,
    locale: &str,
) -> PointsPayload {
    PointsPayload {
        points: Some(option.points.into()),
        available: Some(available),
        pending: Some(0),
        code: Some(code.to_string()),
        reward: Some(reward_label(option, currency, locale)),
        amount_off: option.amount_off,
        percent_off: option.percent_off,
        minimum_order: option.minimum_order,
        currency,
        ..PointsPayload::default()
    }
}

/// "5.00 EUR off" or "10% off" ("5.00 EUR di sconto" in Italian).
pub(crate) fn reward_label(option: &RewardOption, currency: Option<Currency>, locale: &str) -> String {
    let off = if locale.starts_with("it") {
        "di sconto"
    } else {
        "off"
    };
    let value = match (option.amount_off, option.percent_off) {
        (Some(amount), _) => match currency {
            Some(currency) => format!("{:.2} {currency}", amount),
            None => format!("{:.2}", amount),
        },
        (None, Some(percent)) => format!("{}%", percent.normalize()),
        (None, None) => return String::new(),
    };
    format!("{value} {off}")
}

/// The currency of the customer's orders (rewards' amounts are in the shop's currency).
pub(crate) async fn points_currency(
    engine: &Engine,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<Option<Currency>, StoreError> {
    let records = lifecycle::customer_records(engine.store.as_ref(), shop, customer).await?;
    Ok(records
        .iter()
        .find_map(|r| r.snapshot.as_ref().map(|o| o.total.currency)))
}

/// Creates the code a reward-code message carries (idempotent: the code is fixed, and "already
/// exists" means it is there). A shop that can no longer create codes gets the points back.
async fn create_reward_code(
    engine: &Engine,
    message: Message,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<Prepared, StoreError> {
    let Some(p) = message.payload.points().cloned() else {
        return Ok(Prepared::fail(FailReason::RewardWithoutCode));
    };
    let value = match (p.amount_off, p.percent_off, p.currency) {
        (Some(amount), _, Some(currency)) => DiscountValue::FixedAmount(Money::new(amount, currency)),
        (None, Some(percent), _) => DiscountValue::Percentage(percent),
        _ => return Ok(Prepared::fail(FailReason::RewardWithoutCode)),
    };
    let Some(code) = p.code.as_deref() else {
        return Ok(Prepared::fail(FailReason::RewardWithoutCode));
    };
    let request = DiscountRequest {
        code: parse_code(code)?,
        title: format!(
            "Aftersale points reward {} for customer {}",
            message.subject, message.customer_id
        ),
        value,
        usage: UsageLimit::SingleUse,
        customers: CustomerEligibility::Anyone,
        products: Vec::new(),
        minimum_subtotal: money(p.minimum_order, p.currency),
        starts_at: now,
        ends_at: None,
    };
    let (shop, customer, redemption) = (
        message.shop.clone(),
        message.customer_id.clone(),
        message.subject.clone(),
    );
    let prepared = create_discount(engine, message, config, &request, now).await?;
    if let Prepared::Held(Held::Skip(_) | Held::Fail(_)) = &prepared {
        append(engine, &shop, &customer, |ledger| {
            points::return_redeemed(ledger, &redemption, now)
                .into_iter()
                .collect()
        })
        .await?;
    }
    Ok(prepared)
}
