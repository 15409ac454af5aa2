//! Customer value tiers at the edge: facts in (CSV import, REST update), tiers out.
//!
//! The model is [`frontdesk_domain::tier`], which knows nothing of clocks or files.
//! This module turns dates into "days ago" (in UTC), validates facts (every bad row
//! of a CSV, with its line), stores them together with their tier in one write, and
//! recomputes every stored tier when the cut-offs or the date change.
//!
//! # Why tiers are stored and recomputed
//! A tier depends on today's date as well as on the facts (a last order 30 days ago
//! is recent, 31 days ago it is not), so a stored tier goes stale at midnight even if
//! nothing is written. The server therefore recomputes all tiers when it starts
//! (which is also when changed cut-offs take effect) and each day at 00:00 UTC
//! ([`Customers::retier`]). That was chosen over storing a hash of the cut-offs and
//! recomputing only when it changes: the date changes anyway, and a full pass over
//! 100,000 customers takes well under a second (`docs/tiers.md` has the figures),
//! writing only the rows whose tier changed.
//!
//! # Layout
//! - [`Customers`]: import, update and retier, over the store.
//! - [`parse_csv`]: the CSV format, validated whole; [`CsvErrors`] lists the problems.
//! - [`CustomerInput`]: one customer's validated facts.
//! - [`today_utc`], [`days_since`], [`parse_date`]: the calendar.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use frontdesk_domain::phone::{Phone, Region};
use frontdesk_domain::tier::{CustomerFacts, Tier, TierRules};
use frontdesk_protocol::Problem;
use frontdesk_protocol::rest::CustomerUpdate;
use frontdesk_store::{
    CustomerFilter, CustomerRecord, CustomerRow, ImportCounts, Store, StoreError, TierChange,
};
use time::{Date, Month, OffsetDateTime};

/// The columns of a customer CSV, in the order the documentation shows them.
pub const COLUMNS: [&str; 7] = [
    "phone",
    "name",
    "orders_per_month",
    "money",
    "registered_on",
    "last_order_on",
    "credit",
];

/// At most this many problems are listed for one file; the count says how many
/// there were. A file exported with the wrong date format has a problem on every
/// line, and a 100,000-line answer helps nobody.
const MAX_LISTED_PROBLEMS: usize = 100;

/// Longest name accepted, in characters.
const MAX_NAME_CHARS: usize = 200;

// ---- the calendar --------------------------------------------------------------

/// Today's date in UTC: the day against which "days ago" is counted.
#[must_use]
pub fn today_utc() -> Date {
    OffsetDateTime::now_utc().date()
}

/// Whole days from `day` to `today`; 0 when `day` is today or later (a date a few
/// hours ahead of UTC in the business's time zone is "today", not an error).
#[must_use]
pub fn days_since(day: Date, today: Date) -> u32 {
    let days = (today - day).whole_days();
    u32::try_from(days.max(0)).unwrap_or(u32::MAX)
}

/// Parses an ISO date, exactly `YYYY-MM-DD`.
///
/// Hand-written rather than `time`'s ISO 8601 parser, which also accepts week dates
/// (`2024-W01-1`) and ordinal dates (`2024-005`) that a spreadsheet never means.
///
/// # Errors
/// A message saying what a date should look like.
pub fn parse_date(text: &str) -> Result<Date, String> {
    let bad = || format!("'{text}' is not a date (YYYY-MM-DD)");
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) {
        return Err(bad());
    }
    if !digits(5..7) || !digits(8..10) {
        return Err(bad());
    }
    let year: i32 = text[0..4].parse().map_err(|_| bad())?;
    let month: u8 = text[5..7].parse().map_err(|_| bad())?;
    let day: u8 = text[8..10].parse().map_err(|_| bad())?;
    let month = Month::try_from(month).map_err(|_| bad())?;
    Date::from_calendar_date(year, month, day).map_err(|_| bad())
}

/// A date as `YYYY-MM-DD`.
#[must_use]
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// How long until the next day begins in UTC.
#[must_use]
pub fn until_next_utc_day() -> std::time::Duration {
    let now = OffsetDateTime::now_utc();
    now.date()
        .next_day()
        .map(|d| d.midnight().assume_utc() - now)
        .and_then(|d| std::time::Duration::try_from(d).ok())
        .unwrap_or(std::time::Duration::from_secs(24 * 3600))
}

// ---- one customer's facts ------------------------------------------------------

/// One customer's validated facts.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerInput {
    /// The phone number, normalised.
    pub phone: Phone,
    /// Name; `None` keeps the stored one.
    pub name: Option<String>,
    /// Average orders per month, `>= 0`.
    pub orders_per_month: f64,
    /// Money contributed in total, `>= 0`.
    pub money: f64,
    /// Registration date.
    pub registered_on: Date,
    /// Last order, not before registration; `None`: never ordered.
    pub last_order_on: Option<Date>,
    /// Credit rating 0–100; `None`: unknown.
    pub credit: Option<u8>,
}

impl CustomerInput {
    /// What the tier model needs, with dates counted back from `today`.
    #[must_use]
    pub fn facts(&self, today: Date) -> CustomerFacts {
        CustomerFacts {
            orders_per_month: self.orders_per_month,
            money: self.money,
            days_since_registration: days_since(self.registered_on, today),
            days_since_last_order: self.last_order_on.map(|d| days_since(d, today)),
            credit: self.credit,
        }
    }

    fn record(&self, tier: Tier) -> CustomerRecord {
        CustomerRecord {
            phone: self.phone.as_str().to_owned(),
            name: self.name.clone(),
            orders_per_month: self.orders_per_month,
            money: self.money,
            registered_on: format_date(self.registered_on),
            last_order_on: self.last_order_on.map(format_date),
            credit: self.credit,
            tier: tier.as_str().to_owned(),
        }
    }
}

/// Collects the problems of one customer (a CSV row or a REST body) while its
/// fields are read, so that every problem is reported, not only the first.
struct Fields<'a> {
    today: Date,
    problems: &'a mut Vec<String>,
}

impl Fields<'_> {
    fn problem(&mut self, message: String) {
        self.problems.push(message);
    }

    fn phone(&mut self, text: &str, region: Region) -> Option<Phone> {
        if text.trim().is_empty() {
            self.problem("phone is required".into());
            return None;
        }
        Phone::parse(text, region)
            .map_err(|e| self.problem(format!("phone: {e}")))
            .ok()
    }

    fn name(&mut self, text: Option<&str>) -> Option<String> {
        let text = text.map(str::trim).filter(|t| !t.is_empty())?;
        if text.chars().count() > MAX_NAME_CHARS {
            self.problem(format!("name: longer than {MAX_NAME_CHARS} characters"));
        } else if text.chars().any(char::is_control) {
            self.problem("name: contains a control character".into());
        }
        Some(text.to_owned())
    }

    /// A number `>= 0` written as text (CSV).
    fn amount_text(&mut self, column: &str, text: &str) -> Option<f64> {
        if text.is_empty() {
            self.problem(format!("{column} is required"));
            return None;
        }
        match text.parse::<f64>() {
            Ok(v) => self.amount(column, v, text),
            Err(_) => {
                self.problem(format!("{column}: '{text}' is not a number"));
                None
            }
        }
    }

    /// A number `>= 0`; `shown` is how the user wrote it.
    fn amount(&mut self, column: &str, v: f64, shown: &str) -> Option<f64> {
        if !v.is_finite() {
            self.problem(format!("{column}: '{shown}' is not a number"));
            None
        } else if v < 0.0 {
            self.problem(format!("{column}: {shown} is negative"));
            None
        } else {
            Some(v)
        }
    }

    fn date(&mut self, column: &str, text: &str) -> Option<Date> {
        let d = parse_date(text)
            .map_err(|e| self.problem(format!("{column}: {e}")))
            .ok()?;
        // One day of grace: a business east of UTC is already in tomorrow.
        if self.today.next_day().is_some_and(|tomorrow| d > tomorrow) {
            self.problem(format!("{column}: {text} is in the future"));
            return None;
        }
        Some(d)
    }

    fn credit_text(&mut self, text: &str) -> Option<Option<u8>> {
        if text.is_empty() {
            return Some(None);
        }
        match text.parse::<i64>() {
            Ok(v) => self.credit(v),
            Err(_) => {
                self.problem(format!(
                    "credit: '{text}' is not a whole number from 0 to 100"
                ));
                None
            }
        }
    }

    fn credit(&mut self, v: i64) -> Option<Option<u8>> {
        match u8::try_from(v) {
            Ok(c) if c <= 100 => Some(Some(c)),
            _ => {
                self.problem(format!("credit: {v} is not between 0 and 100"));
                None
            }
        }
    }

    /// Checks what holds between the fields and builds the input if all is well.
    #[expect(clippy::too_many_arguments, reason = "one argument per field")]
    fn finish(
        &mut self,
        phone: Option<Phone>,
        name: Option<String>,
        orders_per_month: Option<f64>,
        money: Option<f64>,
        registered_on: Option<Date>,
        last_order_on: Option<Option<Date>>,
        credit: Option<Option<u8>>,
    ) -> Option<CustomerInput> {
        if let (Some(reg), Some(Some(last))) = (registered_on, last_order_on)
            && last < reg
        {
            self.problem(format!(
                "last_order_on {} is before registered_on {}",
                format_date(last),
                format_date(reg)
            ));
        }
        if !self.problems.is_empty() {
            return None;
        }
        Some(CustomerInput {
            phone: phone?,
            name,
            orders_per_month: orders_per_month?,
            money: money?,
            registered_on: registered_on?,
            last_order_on: last_order_on?,
            credit: credit?,
        })
    }
}

/// Validates a REST update of the customer at `phone`.
///
/// # Errors
/// Every problem found, without lines.
pub fn check_update(
    phone: &str,
    u: &CustomerUpdate,
    region: Region,
    today: Date,
) -> Result<CustomerInput, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut f = Fields {
        today,
        problems: &mut problems,
    };
    let phone = f.phone(phone, region);
    let name = f.name(u.name.as_deref());
    let orders = f.amount(
        "orders_per_month",
        u.orders_per_month,
        &u.orders_per_month.to_string(),
    );
    let money = f.amount("money", u.money, &u.money.to_string());
    let registered = f.date("registered_on", u.registered_on.trim());
    let last = match u.last_order_on.as_deref().map(str::trim) {
        None | Some("") => Some(None),
        Some(t) => f.date("last_order_on", t).map(Some),
    };
    let credit = match u.credit {
        None => Some(None),
        Some(c) => f.credit(c),
    };
    let input = f.finish(phone, name, orders, money, registered, last, credit);
    input.ok_or_else(|| {
        problems
            .into_iter()
            .map(|message| Problem {
                line: None,
                message,
            })
            .collect()
    })
}

// ---- the CSV file --------------------------------------------------------------

/// Every problem of a customer CSV, each with its line; at most
/// `MAX_LISTED_PROBLEMS` are kept. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CsvErrors {
    /// The problems listed.
    pub problems: Vec<Problem>,
    /// How many problems there were in all (more than listed on a very bad file).
    pub total: usize,
}

impl CsvErrors {
    /// A one-line summary.
    #[must_use]
    pub fn summary(&self) -> String {
        let n = self.total;
        let mut s = format!(
            "the file has {n} problem{}; nothing was imported",
            if n == 1 { "" } else { "s" }
        );
        if n > self.problems.len() {
            s += &format!(" (the first {} are listed)", self.problems.len());
        }
        s
    }
}

impl fmt::Display for CsvErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}:", self.summary())?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Problems {
    listed: Vec<Problem>,
    total: usize,
}

impl Problems {
    fn add(&mut self, line: Option<usize>, message: String) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED_PROBLEMS {
            self.listed.push(Problem { line, message });
        }
    }

    fn into_result<T>(self, ok: T) -> Result<T, CsvErrors> {
        if self.total == 0 {
            Ok(ok)
        } else {
            Err(CsvErrors {
                problems: self.listed,
                total: self.total,
            })
        }
    }
}

fn line_of(pos: Option<&csv::Position>) -> Option<usize> {
    pos.and_then(|p| usize::try_from(p.line()).ok())
}

/// Reads and validates a whole customer CSV (format in `docs/tiers.md`).
///
/// A header row naming the columns is required; they may come in any order, but
/// every one of [`COLUMNS`] must be there and no other. Fields are trimmed. Rows
/// whose fields are all empty (spreadsheets add them) are skipped.
///
/// # Errors
/// [`CsvErrors`] with every bad row's line and what is wrong with it (bad phone,
/// bad or negative number, credit outside 0–100, bad or future date, last order
/// before registration, a phone that appears twice), or the header's problems.
/// Nothing partial is returned.
pub fn parse_csv(
    data: &[u8],
    region: Region,
    today: Date,
) -> Result<Vec<CustomerInput>, CsvErrors> {
    let mut problems = Problems::default();
    let mut rdr = frontdesk_domain::csvfile::reader(data);
    let header = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            problems.add(Some(1), frontdesk_domain::csvfile::message(&e));
            return problems.into_result(Vec::new());
        }
    };
    let Some(columns) = header_columns(&header, &mut problems) else {
        return problems.into_result(Vec::new());
    };
    let mut out = Vec::new();
    let mut seen: HashMap<Phone, usize> = HashMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                problems.add(
                    line_of(e.position()),
                    frontdesk_domain::csvfile::message(&e),
                );
                continue;
            }
        }
        let line = line_of(record.position());
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != header.len() {
            problems.add(
                line,
                format!(
                    "has {} fields; the header has {}",
                    record.len(),
                    header.len()
                ),
            );
            continue;
        }
        let field = |c: usize| record.get(columns[c]).unwrap_or("");
        let mut row_problems = Vec::new();
        let mut f = Fields {
            today,
            problems: &mut row_problems,
        };
        let phone = f.phone(field(0), region);
        let name = f.name(Some(field(1)));
        let orders = f.amount_text("orders_per_month", field(2));
        let money = f.amount_text("money", field(3));
        let registered = if field(4).is_empty() {
            f.problem("registered_on is required".into());
            None
        } else {
            f.date("registered_on", field(4))
        };
        let last = if field(5).is_empty() {
            Some(None)
        } else {
            f.date("last_order_on", field(5)).map(Some)
        };
        let credit = f.credit_text(field(6));
        if let Some(p) = &phone
            && let Some(first) = seen.get(p)
        {
            let at = first.to_string();
            f.problem(format!("phone {p} is also on line {at}"));
        }
        let input = f.finish(phone, name, orders, money, registered, last, credit);
        for m in row_problems {
            problems.add(line, m);
        }
        if let Some(input) = input {
            seen.insert(input.phone.clone(), line.unwrap_or(0));
            out.push(input);
        }
    }
    problems.into_result(out)
}

/// Maps each of [`COLUMNS`] to its position in the header, or reports why not.
fn header_columns(header: &csv::StringRecord, problems: &mut Problems) -> Option<[usize; 7]> {
    let line = line_of(header.position()).or(Some(1));
    if header.iter().all(str::is_empty) {
        problems.add(
            line,
            format!(
                "the file needs a header row naming its columns: {}",
                COLUMNS.join(",")
            ),
        );
        return None;
    }
    let mut at = [usize::MAX; 7];
    let before = problems.total;
    for (i, name) in header.iter().enumerate() {
        let key = name.to_ascii_lowercase();
        match COLUMNS.iter().position(|c| *c == key) {
            Some(c) if at[c] != usize::MAX => {
                problems.add(line, format!("column '{name}' appears twice"));
            }
            Some(c) => at[c] = i,
            None => problems.add(
                line,
                format!(
                    "unknown column '{name}' (the columns are {})",
                    COLUMNS.join(", ")
                ),
            ),
        }
    }
    for (c, pos) in COLUMNS.iter().zip(at) {
        if pos == usize::MAX {
            problems.add(line, format!("missing column '{c}'"));
        }
    }
    (problems.total == before).then_some(at)
}

// ---- the service ---------------------------------------------------------------

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Imported {
    /// Rows imported.
    pub customers: u32,
    /// New customers and existing ones.
    pub counts: ImportCounts,
    /// The imported customers by tier.
    pub by_tier: BTreeMap<Tier, u32>,
}

/// What a recomputation of every tier did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Retiered {
    /// Customers looked at.
    pub customers: u32,
    /// Customers whose tier changed.
    pub changed: u64,
    /// All customers by tier, after.
    pub by_tier: BTreeMap<Tier, u32>,
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file has problems; nothing was stored.
    #[error("{0}")]
    Invalid(CsvErrors),
    /// Storing failed; nothing was stored.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Customer facts and tiers over a store, with the configured cut-offs.
#[derive(Debug, Clone)]
pub struct Customers {
    store: Arc<dyn Store>,
    rules: TierRules,
    region: Region,
}

impl Customers {
    /// The service over `store`, tiering with `rules`, reading phone numbers
    /// without a `+` in `region`.
    #[must_use]
    pub fn new(store: Arc<dyn Store>, rules: TierRules, region: Region) -> Self {
        Self {
            store,
            rules,
            region,
        }
    }

    /// The cut-offs in use.
    #[must_use]
    pub fn rules(&self) -> &TierRules {
        &self.rules
    }

    /// The tier of validated facts on `today`.
    #[must_use]
    pub fn tier(&self, input: &CustomerInput, today: Date) -> Tier {
        self.rules.tier(&input.facts(today))
    }

    /// Validates a whole CSV file and stores every customer in it with their tier,
    /// in one transaction.
    ///
    /// # Errors
    /// [`ImportError::Invalid`] listing the file's problems, or a store failure;
    /// in both cases nothing is stored.
    pub async fn import_csv(&self, data: &[u8], today: Date) -> Result<Imported, ImportError> {
        let inputs = parse_csv(data, self.region, today).map_err(ImportError::Invalid)?;
        let mut by_tier = BTreeMap::new();
        let records: Vec<CustomerRecord> = inputs
            .iter()
            .map(|i| {
                let tier = self.tier(i, today);
                *by_tier.entry(tier).or_insert(0) += 1;
                i.record(tier)
            })
            .collect();
        let counts = self
            .store
            .upsert_customers(&records, crate::time::now_ms())
            .await?;
        Ok(Imported {
            customers: u32::try_from(records.len()).unwrap_or(u32::MAX),
            counts,
            by_tier,
        })
    }

    /// Stores one customer's validated facts with their tier; true if the
    /// customer was new.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn put(&self, input: &CustomerInput, today: Date) -> Result<bool, StoreError> {
        let record = input.record(self.tier(input, today));
        let counts = self
            .store
            .upsert_customers(&[record], crate::time::now_ms())
            .await?;
        Ok(counts.created == 1)
    }

    /// Recomputes every customer's tier for `today` and stores those that changed.
    /// A customer whose facts are written meanwhile keeps the tier stored with them.
    ///
    /// # Errors
    /// When the store fails; tiers are then as before.
    pub async fn retier(&self, today: Date) -> Result<Retiered, StoreError> {
        let rows = self.store.customers(&CustomerFilter::default()).await?;
        let mut by_tier = BTreeMap::new();
        let mut changes = Vec::new();
        for row in &rows {
            let Some(tier) = stored_tier(&self.rules, row, today) else {
                tracing::warn!(
                    customer = row.id,
                    "stored customer facts do not parse; tier kept"
                );
                continue;
            };
            *by_tier.entry(tier).or_insert(0) += 1;
            if tier.as_str() != row.tier {
                changes.push(TierChange {
                    id: row.id,
                    tier: tier.as_str().to_owned(),
                    updated_at: row.updated_at,
                });
            }
        }
        let changed = self.store.set_tiers(&changes).await?;
        Ok(Retiered {
            customers: u32::try_from(rows.len()).unwrap_or(u32::MAX),
            changed,
            by_tier,
        })
    }
}

/// The tier a stored customer has on `today` under `rules`; `None` when the stored
/// facts are unreadable (only possible if the database was edited by hand).
#[must_use]
pub fn stored_tier(rules: &TierRules, row: &CustomerRow, today: Date) -> Option<Tier> {
    let (Some(orders), Some(money), Some(registered)) = (
        row.orders_per_month,
        row.money,
        row.registered_on.as_deref(),
    ) else {
        // Known only by phone: no history to judge.
        return Some(Tier::New);
    };
    let registered = parse_date(registered).ok()?;
    let last = match row.last_order_on.as_deref() {
        Some(d) => Some(parse_date(d).ok()?),
        None => None,
    };
    Some(rules.tier(&CustomerFacts {
        orders_per_month: orders,
        money,
        days_since_registration: days_since(registered, today),
        days_since_last_order: last.map(|d| days_since(d, today)),
        credit: row.credit,
    }))
}

/// Tier counts as `core 3, new 1`, in serving order.
#[must_use]
pub fn tier_summary(by_tier: &BTreeMap<Tier, u32>) -> String {
    if by_tier.is_empty() {
        return "none".into();
    }
    by_tier
        .iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> Date {
        parse_date(s).unwrap()
    }

    fn us() -> Region {
        frontdesk_domain::phone::region("US").unwrap()
    }

    const TODAY: &str = "2025-06-15";

    const HEADER: &str = "phone,name,orders_per_month,money,registered_on,last_order_on,credit\n";

    fn parse(body: &str) -> Result<Vec<CustomerInput>, CsvErrors> {
        parse_csv(format!("{HEADER}{body}").as_bytes(), us(), date(TODAY))
    }

    /// The problems of a file as `line N: message` strings.
    fn problems(text: &str) -> Vec<String> {
        parse_csv(text.as_bytes(), us(), date(TODAY))
            .unwrap_err()
            .problems
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn problems_of(body: &str) -> Vec<String> {
        problems(&format!("{HEADER}{body}"))
    }

    #[test]
    fn dates_become_whole_days_ago() {
        let today = date("2025-03-01");
        assert_eq!(days_since(today, today), 0);
        assert_eq!(days_since(date("2025-02-28"), today), 1);
        // Across a leap day and a year end.
        assert_eq!(days_since(date("2024-02-28"), date("2024-03-01")), 2);
        assert_eq!(days_since(date("2024-12-31"), date("2025-01-01")), 1);
        assert_eq!(days_since(date("2024-03-01"), today), 365);
        // A date ahead of UTC counts as today.
        assert_eq!(days_since(date("2025-03-02"), today), 0);
        assert_eq!(days_since(date("0001-01-01"), today), 739_310);
    }

    #[test]
    fn only_plain_iso_dates_parse() {
        assert_eq!(format_date(date("2024-02-29")), "2024-02-29");
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-1-05",
            "2024/01/05",
            "05-01-2024",
            "2024-W01-1",
            "2024-005",
            "20240105",
            "2024-01-05T00:00",
            "+024-01-05",
            "",
        ] {
            assert!(parse_date(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn facts_count_days_from_today() {
        let input = &parse("2015550123,Ann,2.5,1200,2025-01-01,2025-06-10,\n").unwrap()[0];
        let f = input.facts(date(TODAY));
        assert_eq!(f.days_since_registration, 165);
        assert_eq!(f.days_since_last_order, Some(5));
        assert_eq!(f.credit, None);
    }

    #[test]
    fn a_good_file_parses_in_any_column_order() {
        let text = "\u{feff}credit, money,PHONE,name,registered_on,last_order_on,orders_per_month\n\
                    80,1200.50,+1 (201) 555-0123,\"Reyes, Dana\",2024-01-05,2025-06-01,4\n\
                    ,0,+8613912345678,,2025-06-01,,0\n\
                    ,,,,,,\n";
        let rows = parse_csv(text.as_bytes(), us(), date(TODAY)).unwrap();
        assert_eq!(rows.len(), 2, "the empty row is skipped");
        assert_eq!(
            rows[0],
            CustomerInput {
                phone: Phone::parse("+12015550123", us()).unwrap(),
                name: Some("Reyes, Dana".into()),
                orders_per_month: 4.0,
                money: 1200.5,
                registered_on: date("2024-01-05"),
                last_order_on: Some(date("2025-06-01")),
                credit: Some(80),
            }
        );
        assert_eq!(rows[1].phone.as_str(), "+8613912345678");
        assert_eq!(
            (
                rows[1].name.as_deref(),
                rows[1].last_order_on,
                rows[1].credit
            ),
            (None, None, None)
        );
    }

    #[test]
    fn the_example_in_the_docs_imports() {
        let doc = include_str!("../../../docs/tiers.md");
        let example = doc
            .split("```csv\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap();
        let rows = parse_csv(example.as_bytes(), us(), date("2026-02-01")).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[1].phone.as_str(), "+14155550188");
        assert_eq!(rows[2].name.as_deref(), Some("Wei, Li"));
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let got = problems_of(
            "+12015550101,A,1,10,2024-01-01,,\n\
             not-a-phone,B,1,10,2024-01-01,,\n\
             +12015550102,C,lots,10,2024-01-01,,\n\
             +12015550103,D,1,-5,2024-01-01,,\n\
             +12015550104,E,1,10,2024-01-01,,101\n\
             +12015550105,F,1,10,2024-02-30,,\n\
             +12015550106,G,1,10,2024-05-01,2024-04-30,\n\
             (201) 555-0101,H,1,10,2024-01-01,,\n\
             +12015550107,I,1,10,2024-01-01,,x\n\
             +12015550108,J,NaN,10,2024-01-01,,\n\
             +12015550109,K,1,10,2099-01-01,,\n\
             +12015550110,L,1,10,,,\n\
             +12015550111,M,1,10,2024-01-01\n",
        );
        assert_eq!(
            got,
            [
                "line 3: phone: 'not-a-phone' is not a phone number",
                "line 4: orders_per_month: 'lots' is not a number",
                "line 5: money: -5 is negative",
                "line 6: credit: 101 is not between 0 and 100",
                "line 7: registered_on: '2024-02-30' is not a date (YYYY-MM-DD)",
                "line 8: last_order_on 2024-04-30 is before registered_on 2024-05-01",
                "line 9: phone +12015550101 is also on line 2",
                "line 10: credit: 'x' is not a whole number from 0 to 100",
                "line 11: orders_per_month: 'NaN' is not a number",
                "line 12: registered_on: 2099-01-01 is in the future",
                "line 13: registered_on is required",
                "line 14: has 5 fields; the header has 7",
            ]
        );
    }

    #[test]
    fn one_row_can_have_several_problems() {
        let got = problems_of("12,X,-1,abc,2024-01-01,,200\n");
        assert_eq!(
            got,
            [
                "line 2: phone: '12' is not a valid phone number",
                "line 2: orders_per_month: -1 is negative",
                "line 2: money: 'abc' is not a number",
                "line 2: credit: 200 is not between 0 and 100",
            ]
        );
    }

    #[test]
    fn the_header_must_name_every_column_once_and_no_other() {
        assert_eq!(
            problems(
                "phone,name,money,registered_on,last_order_on,credit\n+12015550101,A,1,2024-01-01,,\n"
            ),
            ["line 1: missing column 'orders_per_month'"]
        );
        assert_eq!(
            problems("phone,name,orders_per_month,money,registered_on,last_order_on,credit,vip\n"),
            [
                "line 1: unknown column 'vip' (the columns are phone, name, orders_per_month, money, registered_on, last_order_on, credit)"
            ]
        );
        assert_eq!(
            problems(
                "phone,name,orders_per_month,money,registered_on,last_order_on,credit,Phone\n"
            ),
            ["line 1: column 'Phone' appears twice"]
        );
        // A file without a header: its first row is read as one, and refused.
        let got = problems("+12015550101,A,1,10,2024-01-01,,\n");
        assert!(
            got.iter()
                .any(|p| p.contains("unknown column '+12015550101'")),
            "{got:?}"
        );
        assert!(
            got.iter().any(|p| p.contains("missing column 'phone'")),
            "{got:?}"
        );
        assert_eq!(
            problems(""),
            [
                "line 1: the file needs a header row naming its columns: phone,name,orders_per_month,money,registered_on,last_order_on,credit"
            ]
        );
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_by_line() {
        let mut text = HEADER.as_bytes().to_vec();
        text.extend_from_slice(b"+12015550101,Jos\xe9,1,10,2024-01-01,,\n");
        let e = parse_csv(&text, us(), date(TODAY)).unwrap_err();
        assert_eq!(e.problems[0].line, Some(2));
        assert!(e.problems[0].message.contains("UTF-8"), "{e}");
    }

    #[test]
    fn a_very_bad_file_lists_the_first_problems_and_counts_all() {
        let body: String = (0..250)
            .map(|i| format!("+1201555{i:04},A,1,10,01/02/2024,,\n"))
            .collect();
        let e = parse(&body).unwrap_err();
        assert_eq!((e.problems.len(), e.total), (MAX_LISTED_PROBLEMS, 250));
        assert!(e.summary().contains("250 problems"), "{}", e.summary());
        assert!(e.summary().contains("first 100"), "{}", e.summary());
    }

    #[test]
    fn an_update_is_checked_like_a_row() {
        let u = CustomerUpdate {
            name: Some("Ann".into()),
            orders_per_month: 1.0,
            money: -3.0,
            registered_on: "2024-05-01".into(),
            last_order_on: Some("2024-04-01".into()),
            credit: Some(-1),
        };
        let e = check_update("+12015550101", &u, us(), date(TODAY)).unwrap_err();
        let got: Vec<_> = e.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "money: -3 is negative",
                "credit: -1 is not between 0 and 100",
                "last_order_on 2024-04-01 is before registered_on 2024-05-01",
            ]
        );
        let ok = CustomerUpdate {
            money: 3.0,
            last_order_on: None,
            credit: Some(100),
            ..u
        };
        let input = check_update("(201) 555-0101", &ok, us(), date(TODAY)).unwrap();
        assert_eq!(input.phone.as_str(), "+12015550101");
        assert!(check_update("555", &ok, us(), date(TODAY)).is_err());
    }

    #[test]
    fn stored_rows_are_tiered_like_inputs() {
        let input = &parse("+12015550101,A,3,5000,2024-01-01,2025-06-01,90\n").unwrap()[0];
        let rules = TierRules::default();
        let today = date(TODAY);
        let record = input.record(rules.tier(&input.facts(today)));
        assert_eq!(record.tier, "core");
        let row = CustomerRow {
            id: 1,
            phone: record.phone.clone(),
            name: None,
            created_at: 0,
            orders_per_month: Some(record.orders_per_month),
            money: Some(record.money),
            registered_on: Some(record.registered_on.clone()),
            last_order_on: record.last_order_on.clone(),
            credit: record.credit,
            tier: record.tier.clone(),
            updated_at: Some(1),
        };
        assert_eq!(stored_tier(&rules, &row, today), Some(Tier::Core));
        // Time passes: the last order is no longer recent.
        assert_eq!(
            stored_tier(&rules, &row, date("2025-08-01")),
            Some(Tier::ImportantPromotion)
        );
        // Stricter cut-offs.
        let strict = TierRules {
            valuable_money: 10_000.0,
            ..rules
        };
        assert_eq!(stored_tier(&strict, &row, today), Some(Tier::GeneralCore));
        let bare = CustomerRow {
            orders_per_month: None,
            money: None,
            registered_on: None,
            last_order_on: None,
            ..row
        };
        assert_eq!(stored_tier(&strict, &bare, today), Some(Tier::New));
        let garbled = CustomerRow {
            orders_per_month: Some(1.0),
            money: Some(1.0),
            registered_on: Some("yesterday".into()),
            ..bare
        };
        assert_eq!(stored_tier(&strict, &garbled, today), None);
    }
}
