//! Tiers and the features they unlock (contract 01 §1.4).
//!
//! A self-hosted install gives new accounts `--default-tier` (enterprise unless the operator says
//! otherwise); per-user tiers stay so an operator can restrict someone.

use std::fmt;
use std::str::FromStr;

use crate::domain::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Free,
    Starter,
    Pro,
    Team,
    Enterprise,
}

pub const TIER_NAMES: [&str; 5] = ["free", "starter", "pro", "team", "enterprise"];

impl FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Tier, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "free" => Ok(Tier::Free),
            "starter" => Ok(Tier::Starter),
            "pro" => Ok(Tier::Pro),
            "team" => Ok(Tier::Team),
            // `admin` is the legacy platform-admin tier and has every feature.
            "enterprise" | "admin" => Ok(Tier::Enterprise),
            other => Err(format!(
                "unknown tier '{other}' (one of: {})",
                TIER_NAMES.join(", ")
            )),
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(TIER_NAMES[*self as usize])
    }
}

/// The tier a stored `users.tier` value means; unknown values get nothing beyond free.
pub fn effective(stored: &str) -> Tier {
    stored.parse().unwrap_or(Tier::Free)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    CloudSync,
    AliasesCloud,
    SummaryDeterministic,
    Autosync,
    SummaryNarrative,
    Handoff,
    TeamManagement,
    ProjectContext,
    AgentPersonas,
    AgentTickets,
    AgentRuns,
    /// Running the LLM judge on a session.
    JudgeManual,
}

impl Feature {
    pub fn name(self) -> &'static str {
        match self {
            Feature::CloudSync => "cloud_sync",
            Feature::AliasesCloud => "aliases_cloud",
            Feature::SummaryDeterministic => "summary_deterministic",
            Feature::Autosync => "autosync",
            Feature::SummaryNarrative => "summary_narrative",
            Feature::Handoff => "handoff",
            Feature::TeamManagement => "team_management",
            Feature::ProjectContext => "project_context",
            Feature::AgentPersonas => "agent_personas",
            Feature::AgentTickets => "agent_tickets",
            Feature::AgentRuns => "agent_runs",
            Feature::JudgeManual => "judge_manual",
        }
    }

    /// The lowest tier that has the feature.
    pub fn minimum(self) -> Tier {
        match self {
            Feature::CloudSync
            | Feature::AliasesCloud
            | Feature::SummaryDeterministic
            | Feature::JudgeManual => Tier::Starter,
            Feature::Autosync
            | Feature::SummaryNarrative
            | Feature::Handoff
            | Feature::ProjectContext
            | Feature::AgentPersonas => Tier::Pro,
            Feature::TeamManagement | Feature::AgentTickets | Feature::AgentRuns => Tier::Team,
        }
    }
}

impl Tier {
    pub fn has(self, feature: Feature) -> bool {
        self >= feature.minimum()
    }

    /// `Ok` when the tier has the feature, else the contract's 403 `upgrade_required`.
    pub fn require(self, feature: Feature) -> Result<(), DomainError> {
        if self.has(feature) {
            return Ok(());
        }
        Err(DomainError::UpgradeRequired {
            feature: feature.name(),
            current: self,
            required: feature.minimum(),
        })
    }

    /// `Ok` when a project on this plan has the feature, else the contract's 403
    /// `upgrade_required` worded for the project's plan (02 §0.5).
    pub fn require_for_project(
        self,
        feature: Feature,
        project_id: &str,
    ) -> Result<(), DomainError> {
        if self.has(feature) {
            return Ok(());
        }
        Err(DomainError::ProjectUpgradeRequired {
            feature: feature.name(),
            current: self,
            required: feature.minimum(),
            project_id: project_id.to_string(),
        })
    }

    pub fn is_paid(self) -> bool {
        self > Tier::Free
    }

    /// Storage allowance reported by `/sync/status`; 0 means unlimited.
    pub fn storage_limit_bytes(self) -> u64 {
        const MIB: u64 = 1024 * 1024;
        match self {
            Tier::Free => 50 * MIB,
            Tier::Starter => 500 * MIB,
            Tier::Pro => 2048 * MIB,
            Tier::Team => 1024 * MIB,
            Tier::Enterprise => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates() {
        assert!(!Tier::Free.has(Feature::CloudSync));
        assert!(Tier::Starter.has(Feature::CloudSync));
        assert!(!Tier::Starter.has(Feature::Autosync));
        assert!(effective("admin").has(Feature::SummaryNarrative));
        let err = Tier::Free.require(Feature::CloudSync).unwrap_err();
        assert!(
            matches!(
                err,
                DomainError::UpgradeRequired {
                    current: Tier::Free,
                    required: Tier::Starter,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "This feature requires starter or above.");
    }
}
