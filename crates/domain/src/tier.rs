//! Customer value tiers (seed 003): who is served first within an arrival period.
//!
//! # The model
//! An RFM model (recency, frequency, money), the usual way to segment customers by
//! value, with the lifecycle and credit rating the seed adds:
//!
//! 1. **New** — registered less than `new_customer_days` ago, or never ordered.
//!    Lifecycle comes first: a newcomer has no history to judge.
//! 2. Otherwise three yes/no questions against configurable cut-offs:
//!    - **R** recent: last order within `recent_days`;
//!    - **F** frequent: at least `frequent_orders_per_month` orders a month;
//!    - **M** valuable: at least `valuable_money` contributed in total.
//! 3. **M** splits *important* from *general*; R and F pick the kind:
//!
//!    | R (recent) | F (frequent) | important (M high)      | general (M low)       |
//!    |------------|--------------|-------------------------|-----------------------|
//!    | yes        | yes          | `core`                  | `general-core`        |
//!    | yes        | no           | `important-development` | `general-development` |
//!    | no         | yes          | `important-promotion`   | `general-promotion`   |
//!    | no         | no           | `important-retention`   | `general-retention`   |
//!
//!    "development": active but infrequent, grow the habit; "promotion": frequent
//!    but lapsed, bring them back; "retention": neither, at risk of leaving.
//! 4. **Credit**: a customer whose credit rating is below `min_credit_for_important`
//!    is never in an important tier (they fall to the general tier of the same kind):
//!    money owed is not value.
//!
//! Every boundary is inclusive on the "high" side (`>=` the cut-off is high). See
//! `docs/tiers.md` for the reasoning and how to tune the cut-offs.
//!
//! The *serving* order of tiers is separate configuration ([`TierOrder`]), so a
//! business can, say, put new customers first without changing how they are tiered.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The nine tiers of MISSION §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// Recent, frequent, valuable.
    Core,
    /// Recent, infrequent, valuable.
    ImportantDevelopment,
    /// Lapsed, frequent, valuable.
    ImportantPromotion,
    /// Lapsed, infrequent, valuable.
    ImportantRetention,
    /// Recent, frequent, modest spend.
    GeneralCore,
    /// Recent, infrequent, modest spend.
    GeneralDevelopment,
    /// Lapsed, frequent, modest spend.
    GeneralPromotion,
    /// Lapsed, infrequent, modest spend.
    GeneralRetention,
    /// Registered recently or never ordered.
    New,
}

impl Tier {
    /// All tiers, in the default serving order.
    pub const ALL: [Tier; 9] = [
        Tier::Core,
        Tier::ImportantDevelopment,
        Tier::ImportantPromotion,
        Tier::ImportantRetention,
        Tier::GeneralCore,
        Tier::GeneralDevelopment,
        Tier::GeneralPromotion,
        Tier::GeneralRetention,
        Tier::New,
    ];

    /// The name used in configuration, CSV files, the API and the console.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Core => "core",
            Tier::ImportantDevelopment => "important-development",
            Tier::ImportantPromotion => "important-promotion",
            Tier::ImportantRetention => "important-retention",
            Tier::GeneralCore => "general-core",
            Tier::GeneralDevelopment => "general-development",
            Tier::GeneralPromotion => "general-promotion",
            Tier::GeneralRetention => "general-retention",
            Tier::New => "new",
        }
    }

    /// Whether this is one of the four important (high-value) tiers.
    #[must_use]
    pub fn is_important(self) -> bool {
        matches!(
            self,
            Tier::Core
                | Tier::ImportantDevelopment
                | Tier::ImportantPromotion
                | Tier::ImportantRetention
        )
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Tier::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Tier::ALL.iter().map(|t| t.as_str()).collect();
                format!("unknown tier '{s}' (tiers: {})", names.join(", "))
            })
    }
}

/// What the model knows about a customer. Days are counted in whole days
/// (the caller turns dates into "days ago" with today's date), which keeps the
/// model free of clocks and calendars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CustomerFacts {
    /// Average orders per month.
    pub orders_per_month: f64,
    /// Money contributed in total, in the business's currency.
    pub money: f64,
    /// Days since the customer registered.
    pub days_since_registration: u32,
    /// Days since the last order; `None` if they never ordered.
    pub days_since_last_order: Option<u32>,
    /// Credit rating, 0 (worst) to 100 (best); `None` if unknown.
    pub credit: Option<u8>,
}

/// The cut-offs of the model (configuration `[tiers]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TierRules {
    /// Customers registered fewer days ago than this are `new`.
    pub new_customer_days: u32,
    /// A last order at most this many days ago is recent (R high).
    pub recent_days: u32,
    /// At least this many orders a month is frequent (F high).
    pub frequent_orders_per_month: f64,
    /// At least this much money contributed is valuable (M high).
    pub valuable_money: f64,
    /// Below this credit rating (0–100) a customer is never in an important tier.
    /// An unknown rating does not bar anyone.
    pub min_credit_for_important: u8,
}

impl Default for TierRules {
    fn default() -> Self {
        Self {
            new_customer_days: 30,
            recent_days: 30,
            frequent_orders_per_month: 2.0,
            valuable_money: 1000.0,
            min_credit_for_important: 60,
        }
    }
}

impl TierRules {
    /// The tier of a customer.
    #[must_use]
    pub fn tier(&self, c: &CustomerFacts) -> Tier {
        let Some(last_order) = c.days_since_last_order else {
            return Tier::New;
        };
        if c.days_since_registration < self.new_customer_days {
            return Tier::New;
        }
        let recent = last_order <= self.recent_days;
        let frequent = c.orders_per_month >= self.frequent_orders_per_month;
        let credit_ok = c.credit.is_none_or(|r| r >= self.min_credit_for_important);
        let important = c.money >= self.valuable_money && credit_ok;
        match (important, recent, frequent) {
            (true, true, true) => Tier::Core,
            (true, true, false) => Tier::ImportantDevelopment,
            (true, false, true) => Tier::ImportantPromotion,
            (true, false, false) => Tier::ImportantRetention,
            (false, true, true) => Tier::GeneralCore,
            (false, true, false) => Tier::GeneralDevelopment,
            (false, false, true) => Tier::GeneralPromotion,
            (false, false, false) => Tier::GeneralRetention,
        }
    }

    /// Checks the cut-offs make sense.
    ///
    /// # Errors
    /// A message naming the bad setting.
    pub fn check(&self) -> Result<(), String> {
        if !(self.frequent_orders_per_month.is_finite() && self.frequent_orders_per_month >= 0.0) {
            return Err("tiers.frequent_orders_per_month must be a number >= 0".into());
        }
        if !(self.valuable_money.is_finite() && self.valuable_money >= 0.0) {
            return Err("tiers.valuable_money must be a number >= 0".into());
        }
        if self.min_credit_for_important > 100 {
            return Err("tiers.min_credit_for_important must be 0..=100".into());
        }
        Ok(())
    }
}

/// The order in which tiers are served within one arrival period (configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Tier>", into = "Vec<Tier>")]
pub struct TierOrder {
    rank: [u8; 9],
    order: Vec<Tier>,
}

impl TierOrder {
    /// The rank of a tier: 0 is served first.
    #[must_use]
    pub fn rank(&self, tier: Tier) -> u8 {
        self.rank[tier as usize]
    }

    /// The tiers, first served first.
    #[must_use]
    pub fn tiers(&self) -> &[Tier] {
        &self.order
    }
}

impl Default for TierOrder {
    /// [`Tier::ALL`]'s order: important before general, new last.
    fn default() -> Self {
        Self {
            rank: [0, 1, 2, 3, 4, 5, 6, 7, 8],
            order: Tier::ALL.to_vec(),
        }
    }
}

impl TryFrom<Vec<Tier>> for TierOrder {
    type Error = String;

    fn try_from(order: Vec<Tier>) -> Result<Self, String> {
        let mut rank = [u8::MAX; 9];
        for (i, t) in order.iter().enumerate() {
            if rank[*t as usize] != u8::MAX {
                return Err(format!("tier '{t}' appears twice in the serving order"));
            }
            rank[*t as usize] = u8::try_from(i).unwrap_or(u8::MAX);
        }
        if let Some(missing) = Tier::ALL.iter().find(|t| rank[**t as usize] == u8::MAX) {
            return Err(format!(
                "the serving order must list all nine tiers; '{missing}' is missing"
            ));
        }
        Ok(Self { rank, order })
    }
}

impl From<TierOrder> for Vec<Tier> {
    fn from(o: TierOrder) -> Self {
        o.order
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A long-standing, recent, frequent, valuable customer with good credit.
    fn core() -> CustomerFacts {
        CustomerFacts {
            orders_per_month: 2.0,
            money: 1000.0,
            days_since_registration: 30,
            days_since_last_order: Some(30),
            credit: Some(60),
        }
    }

    #[test]
    fn every_cut_off_is_inclusive_on_the_high_side() {
        let r = TierRules::default();
        // Exactly at every cut-off: still core.
        assert_eq!(r.tier(&core()), Tier::Core);
        // One step below each in turn.
        let f = |c: CustomerFacts| r.tier(&c);
        assert_eq!(
            f(CustomerFacts {
                days_since_registration: 29,
                ..core()
            }),
            Tier::New
        );
        assert_eq!(
            f(CustomerFacts {
                days_since_last_order: Some(31),
                ..core()
            }),
            Tier::ImportantPromotion
        );
        assert_eq!(
            f(CustomerFacts {
                orders_per_month: 1.99,
                ..core()
            }),
            Tier::ImportantDevelopment
        );
        assert_eq!(
            f(CustomerFacts {
                money: 999.99,
                ..core()
            }),
            Tier::GeneralCore
        );
        assert_eq!(
            f(CustomerFacts {
                credit: Some(59),
                ..core()
            }),
            Tier::GeneralCore
        );
    }

    #[test]
    fn all_eight_rfm_cells_and_new() {
        let r = TierRules::default();
        let cell = |recent: bool, frequent: bool, valuable: bool| {
            r.tier(&CustomerFacts {
                orders_per_month: if frequent { 5.0 } else { 0.5 },
                money: if valuable { 5000.0 } else { 50.0 },
                days_since_registration: 400,
                days_since_last_order: Some(if recent { 3 } else { 200 }),
                credit: Some(90),
            })
        };
        assert_eq!(cell(true, true, true), Tier::Core);
        assert_eq!(cell(true, false, true), Tier::ImportantDevelopment);
        assert_eq!(cell(false, true, true), Tier::ImportantPromotion);
        assert_eq!(cell(false, false, true), Tier::ImportantRetention);
        assert_eq!(cell(true, true, false), Tier::GeneralCore);
        assert_eq!(cell(true, false, false), Tier::GeneralDevelopment);
        assert_eq!(cell(false, true, false), Tier::GeneralPromotion);
        assert_eq!(cell(false, false, false), Tier::GeneralRetention);
        let never = CustomerFacts {
            days_since_last_order: None,
            days_since_registration: 900,
            ..core()
        };
        assert_eq!(r.tier(&never), Tier::New);
    }

    #[test]
    fn unknown_credit_does_not_bar_importance() {
        let r = TierRules::default();
        assert_eq!(
            r.tier(&CustomerFacts {
                credit: None,
                ..core()
            }),
            Tier::Core
        );
    }

    #[test]
    fn names_round_trip_and_orders_must_be_complete() {
        for t in Tier::ALL {
            assert_eq!(t.as_str().parse::<Tier>().unwrap(), t);
        }
        assert!("gold".parse::<Tier>().is_err());
        let d = TierOrder::default();
        assert_eq!(d, TierOrder::try_from(Tier::ALL.to_vec()).unwrap());
        assert_eq!(d.rank(Tier::Core), 0);
        assert_eq!(d.rank(Tier::New), 8);
        let mut custom: Vec<Tier> = Tier::ALL.to_vec();
        custom.rotate_right(1); // new customers first
        let o = TierOrder::try_from(custom).unwrap();
        assert_eq!((o.rank(Tier::New), o.rank(Tier::Core)), (0, 1));
        let e = TierOrder::try_from(vec![Tier::Core, Tier::Core]).unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let e = TierOrder::try_from(vec![Tier::Core]).unwrap_err();
        assert!(e.contains("missing"), "{e}");
        let parsed: TierOrder = serde_json::from_str(
            r#"["new","core","important-development","important-promotion","important-retention",
                "general-core","general-development","general-promotion","general-retention"]"#,
        )
        .unwrap();
        assert_eq!(parsed.rank(Tier::New), 0);
    }

    fn arb_facts() -> impl Strategy<Value = CustomerFacts> {
        (
            0.0f64..10.0,
            0.0f64..5000.0,
            0u32..1000,
            proptest::option::of(0u32..1000),
            proptest::option::of(0u8..=100),
        )
            .prop_map(|(o, m, reg, last, credit)| CustomerFacts {
                orders_per_month: o,
                money: m,
                days_since_registration: reg,
                days_since_last_order: last,
                credit,
            })
    }

    proptest! {
        /// Spending more never lowers a customer from important to general, and
        /// better credit never does either.
        #[test]
        fn more_money_or_credit_never_demotes(c in arb_facts(), extra in 0.0f64..5000.0, better in 0u8..=100) {
            let r = TierRules::default();
            let before = r.tier(&c).is_important();
            let richer = CustomerFacts { money: c.money + extra, ..c };
            prop_assert!(!before || r.tier(&richer).is_important());
            let credit = CustomerFacts { credit: c.credit.map(|x| x.max(better)), ..c };
            prop_assert!(!before || r.tier(&credit).is_important());
        }
    }
}
