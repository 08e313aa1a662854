//! `ragstack plan`: online, what deploy would change (`engine::observe` and its plan, with a
//! blue/green change's words); `--offline`, the desired state of the environment
//! (`plan::desired`); `--deployer-policy`, the IAM policy whoever runs ragstack needs.

use crate::context::{Known, TargetArgs};
use crate::deployer_policy::PolicyFormat;
use crate::error::{Error, ExitStatus, Result};
use crate::plan::{desired, to_json, to_text};
use crate::session::{self, Preflight, Settings};
use crate::template_vars;
use crate::{aws::Clients, engine, models, naming, preflight};
use clap::Args;

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Use no credentials and no network: print every resource the environment consists of
    #[arg(long)]
    pub offline: bool,
    /// Account id to derive names and ARNs with (offline, --deployer-policy); default: a
    /// placeholder offline, the credentials' account with --deployer-policy
    #[arg(long, value_name = "ID", value_parser = parse_account)]
    pub account: Option<String>,
    /// Also print every rendered document (IAM and OpenSearch Serverless policies, index mapping)
    #[arg(long)]
    pub show_documents: bool,
    /// Exit 3 when deploy would change something (0 when nothing would change)
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Print the least-privilege IAM policy whoever runs ragstack (a person or a CI role) needs
    /// for this environment, and nothing else; with --account, no AWS call is made
    #[arg(long, conflicts_with_all = ["offline", "show_documents", "detailed_exitcode"])]
    pub deployer_policy: bool,
    /// With --deployer-policy: json (one document per IAM managed policy, each within IAM's
    /// 6,144 characters) or cloudformation (those policies and a role with them attached)
    #[arg(long, value_enum, requires = "deployer_policy", value_name = "FORMAT")]
    pub format: Option<crate::deployer_policy::PolicyFormat>,
}

fn parse_account(s: &str) -> std::result::Result<String, String> {
    if naming::is_account_id(s) {
        Ok(s.to_string())
    } else {
        Err("an AWS account id is exactly 12 digits, e.g. 123456789012".into())
    }
}

/// `plan --deployer-policy`: the IAM policy whoever runs ragstack needs for the environment. The
/// account is all it needs to know (from --account, or GetCallerIdentity, which needs no permission).
async fn deployer_policy(s: &Settings, p: &PlanArgs) -> Result<ExitStatus> {
    let account = match p.account.clone() {
        Some(a) => a,
        None => {
            let (env, _) = session::prepare(s, &p.target, None).await?;
            let clients = Clients::connect(env.region(), s.profile.as_deref()).await;
            preflight::account(&clients).await.map_err(|e| {
                e.with_help(
                    "pass --account ID to print the policy without credentials (e.g. for a CI role that has none \
                     yet), or run with credentials of the target account",
                )
            })?
        }
    };
    let (env, templates) = session::prepare(s, &p.target, Some(account)).await?;
    let policy = templates.render_json(
        "iam/deployer-policy.json",
        &template_vars::variables(&env, &Known::default(), &template_vars::Assigned::default()),
    )?;
    crate::deployer_policy::print(&env, &policy, p.format.unwrap_or(PolicyFormat::Json))?;
    Ok(ExitStatus::Success)
}

pub async fn run(s: &Settings, p: &PlanArgs) -> Result<ExitStatus> {
    if p.offline {
        let (env, templates) = session::prepare(s, &p.target, p.account.clone()).await?;
        for warning in &env.warnings {
            eprintln!("warning: {warning}");
        }
        models::check_offline(&env)?;
        let d = desired(&env, &templates, &Known::default())?;
        if s.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&to_json(&d, p.show_documents)).expect("JSON value serializes")
            );
        } else {
            print!("{}", to_text(&d, p.show_documents));
        }
        return Ok(ExitStatus::Success);
    }
    if p.deployer_policy {
        return deployer_policy(s, p).await;
    }
    if p.account.is_some() {
        return Err(Error::usage(
            "--account goes with --offline or --deployer-policy: online, ragstack reads the account from your credentials",
            None,
        ));
    }
    let ctx = session::connect(s, &p.target, Preflight::PLAN, |_| Ok(())).await?;
    let observed = engine::observe(&ctx, &ctx.known().deployer_arn.unwrap_or_default()).await?;
    let note = crate::blue_green::plan_note(&ctx, &observed);
    if s.json {
        let mut v = crate::plan::changes_json(&observed);
        v["blue_green"] = note.into();
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON serializes"));
    } else {
        print!("{}", crate::plan::changes_text(&observed));
        if let Some(note) = note {
            println!("\n{note}");
        }
    }
    // A blue/green change under way is work the next deploy does.
    let pending = observed.has_changes() || crate::blue_green::under_way(&ctx.env).is_some();
    Ok(if p.detailed_exitcode && pending { ExitStatus::ChangesPending } else { ExitStatus::Success })
}
