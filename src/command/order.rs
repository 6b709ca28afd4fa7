//! `cdnquota order`: place an order by hand through the same ledger, rules
//! and cap as the daemon, list the ledger, or settle an order whose outcome
//! is unknown or failed.

use crate::config::Config;
use crate::order::ledger_file::LedgerFile;
use crate::order::{intent, place};
use cdnquota_core::ledger::OrderState;
use chrono::Utc;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;
use tencent_cdn_api::settings::ApiVersion;
use tencent_cdn_api::source::PackageSource;

/// The flags of `cdnquota order`.
#[derive(clap::Args)]
pub struct OrderArgs {
    /// The account to order for.
    #[arg(long, required_unless_present_any = ["list", "resolve"])]
    pub account: Option<String>,
    /// Package size in GB.
    #[arg(long, requires = "account")]
    pub unit: Option<u32>,
    /// Packages, 1 to 5.
    #[arg(long, requires = "account")]
    pub number: Option<u32>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// List the ledger.
    #[arg(long, conflicts_with_all = ["account", "resolve"])]
    pub list: bool,
    /// Settle the order with this ledger id.
    #[arg(long, conflicts_with = "account")]
    pub resolve: Option<String>,
    /// With --resolve: it was placed, with these order ids.
    #[arg(long, value_delimiter = ',', requires = "resolve", conflicts_with = "not_placed")]
    pub placed: Vec<String>,
    /// With --resolve: it was not placed.
    #[arg(long, requires = "resolve")]
    pub not_placed: bool,
}

impl OrderArgs {
    /// What the flags ask for, or why they do not fit together.
    fn request(self) -> Result<OrderRequest, &'static str> {
        match (self.list, self.resolve, self.account) {
            (true, _, _) | (_, None, None) => Ok(OrderRequest::List),
            (_, Some(_), _) if self.placed.is_empty() && !self.not_placed => {
                Err("--resolve needs --placed ORDER_IDS or --not-placed")
            }
            (_, Some(id), _) => Ok(OrderRequest::Resolve {
                id,
                placed: self.placed,
            }),
            (_, None, Some(account)) => match (self.unit, self.number) {
                (Some(unit_gb), Some(number)) => Ok(OrderRequest::Place {
                    account,
                    unit_gb,
                    number,
                    yes: self.yes,
                }),
                _ => Err("an order needs --unit GB and --number N"),
            },
        }
    }
}

/// What `cdnquota order` was asked to do.
pub enum OrderRequest {
    /// Order `number` x `unit_gb` GB for `account`.
    Place {
        /// The account.
        account: String,
        /// Package size in GB.
        unit_gb: u32,
        /// Packages, 1 to 5.
        number: u32,
        /// Skip the confirmation.
        yes: bool,
    },
    /// Print the ledger.
    List,
    /// Settle an unknown or failed order.
    Resolve {
        /// Its ledger id.
        id: String,
        /// Tencent's order ids, when it was placed after all.
        placed: Vec<String>,
    },
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("cdnquota: {message}");
    ExitCode::from(1)
}

/// Runs `cdnquota order`.
pub fn order(path: &Path, args: OrderArgs) -> ExitCode {
    crate::logging::init();
    let request = match args.request() {
        Ok(r) => r,
        Err(usage) => {
            eprintln!("cdnquota: {usage}");
            return ExitCode::from(2);
        }
    };
    let Some(config) = super::load_config(path) else {
        return ExitCode::from(1);
    };
    let file = LedgerFile::new(&config.state_dir);
    let standby = crate::order::replica::standby_reason(&config).map(str::to_string);
    match request {
        OrderRequest::List => {
            if let Some(why) = &standby {
                println!("this daemon is {why}: the ledger below is not the one that orders");
            }
            list(&file)
        }
        // A hand order here would escape the ordering replica's ledger: its
        // one-outstanding rule and its cap would not see it.
        OrderRequest::Place { .. } if standby.is_some() => fail(format!(
            "this daemon is {}: order by hand on the ordering replica, whose ledger and cap count every order",
            standby.unwrap_or_default()
        )),
        OrderRequest::Resolve { id, placed } => resolve(&file, &id, placed),
        OrderRequest::Place {
            account,
            unit_gb,
            number,
            yes,
        } => place_by_hand(&config, &file, &account, unit_gb, number, yes),
    }
}

fn list(file: &LedgerFile) -> ExitCode {
    let guard = match file.lock() {
        Ok(g) => g,
        Err(e) => return fail(e),
    };
    let mut out = String::new();
    if guard.ledger.entries.is_empty() {
        out.push_str(&format!("no orders in {}\n", file.path().display()));
    }
    for e in &guard.ledger.entries {
        let state = match &e.state {
            OrderState::Placed { order_ids, .. } => format!("placed, waiting for payment ({})", order_ids.join(", ")),
            OrderState::Fulfilled { package_ids, .. } => format!("fulfilled by package(s) {}", package_ids.join(", ")),
            OrderState::Failed { error, .. } => format!("FAILED: {error}"),
            OrderState::Unknown | OrderState::Intent => "UNKNOWN: settle with --resolve".into(),
            OrderState::NotPlaced { .. } => "settled as not placed".into(),
        };
        let how = if e.by_hand { "by hand" } else { "auto" };
        out.push_str(&format!(
            "{}  {}  {} x {} GB  {} UTC  {how}  {state}\n",
            e.id,
            e.account,
            e.number,
            e.unit_gb,
            e.intent_at.format("%Y-%m-%d %H:%M")
        ));
    }
    match super::output::print(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn resolve(file: &LedgerFile, id: &str, placed: Vec<String>) -> ExitCode {
    let mut guard = match file.lock() {
        Ok(g) => g,
        Err(e) => return fail(e),
    };
    let now = Utc::now();
    let Some(entry) = guard.ledger.get_mut(id) else {
        return fail(format!("no order {id} in the ledger; see cdnquota order --list"));
    };
    match (&entry.state, placed.is_empty()) {
        (OrderState::Unknown | OrderState::Intent, false) => {
            entry.state = OrderState::Placed {
                order_ids: placed.clone(),
                placed_at: now,
            };
            // The mail about it goes out with the daemon's next poll.
            entry.notified = false;
        }
        (OrderState::Unknown | OrderState::Intent | OrderState::Failed { .. }, true) => {
            entry.state = OrderState::NotPlaced { settled_at: now };
        }
        (OrderState::Failed { .. }, false) => {
            return fail(format!(
                "order {id} failed at the API: it has no order ids; use --not-placed"
            ));
        }
        (other, _) => return fail(format!("order {id} is already settled ({other:?}); nothing to do")),
    }
    if let Err(e) = guard.save() {
        return fail(e);
    }
    if placed.is_empty() {
        println!("order {id} is settled as not placed; automatic ordering may resume");
    } else {
        println!(
            "order {id} is recorded as placed ({}); it is fulfilled once its package appears",
            placed.join(", ")
        );
    }
    ExitCode::SUCCESS
}

fn place_by_hand(config: &Config, file: &LedgerFile, name: &str, unit_gb: u32, number: u32, yes: bool) -> ExitCode {
    let Some(account) = config.accounts.iter().find(|a| a.name.as_str() == name) else {
        let names: Vec<&str> = config.accounts.iter().map(|a| a.name.as_str()).collect();
        return fail(format!(
            "no account `{name}` in the config; it has: {}",
            names.join(", ")
        ));
    };
    if account.api == ApiVersion::V3 {
        return fail(format!(
            "account `{name}` uses API 3.0, which has no purchase action: order in the Tencent Cloud console"
        ));
    }
    if !(1..=5).contains(&number) || unit_gb == 0 {
        return fail("--number must be 1 to 5 and --unit a package size in GB that GetPackagePrice lists");
    }
    let mut account = account.clone();
    account.order.unit_gb = unit_gb;
    account.order.number = number;
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let mut guard = match file.lock() {
            Ok(g) => g,
            Err(e) => return fail(e),
        };
        crate::order::settle_stale_intents(&mut guard);
        let now = Utc::now();
        if let Some(e) = guard.ledger.blocking(name) {
            return fail(format!("order {} of `{name}` is not settled; settle it first with cdnquota order --resolve {}", e.id, e.id));
        }
        if let Some(e) = guard.ledger.outstanding(name) {
            return fail(format!(
                "order {} of `{name}` is placed and waiting for payment: one outstanding order per account",
                e.id
            ));
        }
        let count = guard.ledger.counted_in_30_days(name, now);
        if count >= account.order.max_orders_per_30d {
            return fail(format!(
                "`{name}` has {count} order(s) in the last 30 days, the cap (max_orders_per_30d = {})",
                account.order.max_orders_per_30d
            ));
        }
        if !yes && !confirm(name, number, unit_gb) {
            return fail("not confirmed; nothing ordered");
        }
        let source = match PackageSource::new(&account.client_settings(config.api_utc_offset.0)) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        // The known packages make fulfilment mean "new since this order".
        let known = match source.fetch().await {
            Ok(snapshot) => snapshot.packages.into_iter().map(|p| p.id).collect::<Vec<_>>(),
            Err(e) => return fail(format!("cannot list the packages before ordering: {e}; {}", e.hint())),
        };
        let entry = intent(&account, (unit_gb, number), &known, "ordered by hand".into(), true, now);
        let id = entry.id.clone();
        guard.ledger.entries.push(entry);
        if let Err(e) = guard.save() {
            return fail(format!("{e}; nothing ordered"));
        }
        match place(&mut guard, &id, &source).await {
            Ok(OrderState::Placed { order_ids, .. }) => {
                println!(
                    "ordered {number} x {unit_gb} GB for `{name}`: order id(s) {} (ledger {id}).\nAn order is not a purchase: pay it in the Tencent Cloud console.",
                    order_ids.join(", ")
                );
                ExitCode::SUCCESS
            }
            Ok(OrderState::Failed { error, .. }) => fail(format!("the order was refused: {error} (ledger {id}; settle with --resolve {id} --not-placed)")),
            Ok(_) => fail("unexpected order state"),
            Err(e) => fail(e),
        }
    })
}

fn confirm(account: &str, number: u32, unit_gb: u32) -> bool {
    eprint!("Order {number} x {unit_gb} GB for `{account}`? This creates an order to be paid. Type yes: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok() && answer.trim() == "yes"
}
