//! The names of the fit policies and coalescing modes as the command line
//! takes them: clap value parsers that list the valid names in `--help`
//! (and in shell completions) and name them again when a word is not one.
//!
//! The core's parsers ([`Policy`]'s and [`Coalescing`]'s `FromStr`) decide
//! what is accepted, aliases included (`first`, `tlsf`, `seg` …); the lists
//! come from [`Policy::ALL`] and [`Coalescing::ALL`], so they cannot drift.

use std::ffi::OsStr;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Arg, Command};
use sysarena::{Coalescing, Policy};

/// `a, b or c`: the names, for a message.
fn either(names: &[&str]) -> String {
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// The policies' names, for a message: `first-fit, next-fit, … or
/// segregated-fit`.
pub fn policy_names() -> String {
    either(&Policy::ALL.map(Policy::name))
}

/// The coalescing modes' names, for a message: `deferred or immediate`.
pub fn coalescing_names() -> String {
    either(&Coalescing::ALL.map(Coalescing::name))
}

/// Parses a policy name; the error names every policy.
///
/// # Errors
/// A message naming the valid policies when `s` is none of them.
pub fn parse_policy(s: &str) -> Result<Policy, String> {
    s.parse()
        .map_err(|_| format!("`{s}` is not a policy: choose {}", policy_names()))
}

/// Parses a coalescing mode; the error names both modes.
///
/// # Errors
/// A message naming the valid modes when `s` is neither of them.
pub fn parse_coalescing(s: &str) -> Result<Coalescing, String> {
    s.parse().map_err(|_| {
        format!(
            "`{s}` is not a coalescing mode: choose {}",
            coalescing_names()
        )
    })
}

/// `--policy`'s value parser: [`parse_policy`], with the names as clap's
/// possible values (listed by `--help` and completed by the shells).
#[derive(Clone, Copy, Debug, Default)]
pub struct PolicyParser;

impl TypedValueParser for PolicyParser {
    type Value = Policy;

    fn parse_ref(
        &self,
        cmd: &Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<Policy, clap::Error> {
        parse_policy.parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            Policy::ALL
                .into_iter()
                .map(|p| PossibleValue::new(p.name())),
        ))
    }
}

/// `--coalescing`'s value parser: [`parse_coalescing`], with the names as
/// clap's possible values.
#[derive(Clone, Copy, Debug, Default)]
pub struct CoalescingParser;

impl TypedValueParser for CoalescingParser {
    type Value = Coalescing;

    fn parse_ref(
        &self,
        cmd: &Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<Coalescing, clap::Error> {
        parse_coalescing.parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            Coalescing::ALL
                .into_iter()
                .map(|c| PossibleValue::new(c.name())),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_name_is_answered_with_the_valid_ones() {
        assert_eq!(
            parse_policy("bogus").unwrap_err(),
            "`bogus` is not a policy: choose first-fit, next-fit, best-fit, worst-fit or segregated-fit"
        );
        assert_eq!(
            parse_coalescing("bogus").unwrap_err(),
            "`bogus` is not a coalescing mode: choose deferred or immediate"
        );
        // The core's aliases still parse.
        assert_eq!(parse_policy("tlsf"), Ok(Policy::SegregatedFit));
        assert_eq!(parse_coalescing("classic"), Ok(Coalescing::Deferred));
        assert_eq!(either(&["a"]), "a");
        assert_eq!(either(&[]), "");
    }

    #[test]
    fn the_parsers_offer_every_name_to_help_and_completions() {
        let names = |p: Option<Box<dyn Iterator<Item = PossibleValue> + '_>>| -> Vec<String> {
            p.into_iter()
                .flatten()
                .map(|v| v.get_name().to_owned())
                .collect()
        };
        assert_eq!(
            names(PolicyParser.possible_values()),
            Policy::ALL.map(|p| p.name().to_owned())
        );
        assert_eq!(
            names(CoalescingParser.possible_values()),
            ["deferred", "immediate"]
        );
    }
}
