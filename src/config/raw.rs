//! The raw serde structs: init.toml as written, each table with
//! `deny_unknown_fields` so a misspelt key is an error, not a silent
//! default. Values that need typing (durations, sizes, signals) stay
//! spanned strings here; `build` types them and names the place of each
//! bad one. Only the command forms have a deserializer of their own.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::Id;
use crate::units;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTend {
    pub(super) socket: Option<String>,
    pub(super) socket_group: Option<Id>,
    pub(super) vm: Option<bool>,
    pub(super) hostname: Option<String>,
    pub(super) root_rw: Option<bool>,
    #[serde(default, deserialize_with = "duration")]
    pub(super) poll_interval: Option<Spanned<String>>,
    pub(super) log_format: Option<Spanned<String>>,
    pub(super) log_dir: Option<String>,
    pub(super) cgroups: Option<Spanned<String>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApp {
    pub(super) command: Option<Spanned<RawCommandBox>>,
    pub(super) cwd: Option<Spanned<String>>,
    /// Each value as TOML wrote it; `build` turns strings, numbers and
    /// booleans into text and names the place of an array or a table.
    pub(super) env: Option<BTreeMap<String, Spanned<EnvValue>>>,
    /// One path or a list of them.
    pub(super) env_file: Option<Spanned<RawPaths>>,
    pub(super) user: Option<Spanned<Id>>,
    pub(super) group: Option<Spanned<Id>>,
    pub(super) restart: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "duration")]
    pub(super) restart_delay: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "duration")]
    pub(super) max_restart_delay: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "duration")]
    pub(super) min_uptime: Option<Spanned<String>>,
    pub(super) max_restarts: Option<Spanned<u32>>,
    /// From before min_uptime: accepted whatever its value, ignored, and
    /// named by a warning (see `deprecated`).
    pub(super) restart_window: Option<Spanned<serde::de::IgnoredAny>>,
    pub(super) max_memory: Option<Spanned<String>>,
    pub(super) memory_max: Option<Spanned<String>>,
    pub(super) cpu_max: Option<Spanned<String>>,
    pub(super) pids_max: Option<Spanned<u32>>,
    pub(super) stop_signal: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "duration")]
    pub(super) stop_timeout: Option<Spanned<String>>,
    pub(super) instances: Option<Spanned<u32>>,
    pub(super) after: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) listen: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) critical: Option<bool>,
    pub(super) health: Option<Spanned<RawHealth>>,
    /// One form or a list (`["prefix", "file"]`).
    pub(super) log: Option<Spanned<RawPaths>>,
    pub(super) log_timestamps: Option<bool>,
    pub(super) log_max_size: Option<Spanned<String>>,
    pub(super) log_keep: Option<u32>,
    pub(super) notify: Option<bool>,
    #[serde(default, deserialize_with = "duration")]
    pub(super) watchdog: Option<Spanned<String>>,
    /// `true` (the app's directory), `false`, one path or a list.
    pub(super) watch: Option<Spanned<RawPaths>>,
    /// One pattern or a list.
    pub(super) watch_ignore: Option<Spanned<RawPaths>>,
    #[serde(default, deserialize_with = "duration")]
    pub(super) watch_delay: Option<Spanned<String>>,
    /// Five cron fields, typed by `build`.
    pub(super) cron_restart: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHealth {
    pub(super) command: Option<RawCommandBox>,
    pub(super) tcp: Option<Spanned<String>>,
    pub(super) http: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "duration")]
    pub(super) interval: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "duration")]
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) retries: Option<u32>,
    #[serde(default, deserialize_with = "duration")]
    pub(super) start_period: Option<Spanned<String>>,
}

/// A duration as written: a string, typed later by `build`. A bare integer
/// (PM2's `restart_delay: 3000`) is an error that says what to write
/// instead; any other type gets serde's "expected a string".
fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Spanned<String>>, D::Error> {
    struct Text;
    impl serde::de::Visitor<'_> for Text {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<String, E> {
            Ok(s.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<String, E> {
            Err(E::custom(units::bare_duration(i128::from(n))))
        }
        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<String, E> {
            Err(E::custom(units::bare_duration(i128::from(n))))
        }
    }
    struct Duration(String);
    impl<'de> Deserialize<'de> for Duration {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(Text).map(Duration)
        }
    }
    let text = Spanned::<Duration>::deserialize(d)?;
    Ok(Some(Spanned::new(text.span(), text.into_inner().0)))
}

/// A string, or an array of strings: the two forms of `command`, and of
/// `env_file`, `log`, `watch` and `watch_ignore`; or a boolean, which only
/// `watch` takes (the others refuse it). Its own visitor rather than an untagged enum,
/// which would buffer every value to try each form in turn (and cost the
/// binary several KB per use).
enum OneOrMore {
    One(String),
    More(Vec<String>),
    Flag(bool),
}

impl<'de> Deserialize<'de> for OneOrMore {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OneOrMore;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E>(self, v: &str) -> Result<OneOrMore, E> {
                Ok(OneOrMore::One(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<OneOrMore, E> {
                Ok(OneOrMore::Flag(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OneOrMore, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(OneOrMore::More(items))
            }
        }
        d.deserialize_any(V)
    }
}

/// `env_file`, `log`, `watch` and `watch_ignore`: one string or an array
/// of them; or a boolean, which only `watch` takes (`build` refuses it
/// elsewhere). One type for the four: each type deserialized from toml
/// costs kilobytes of binary.
#[derive(Debug, Clone)]
pub(super) struct RawPaths(pub(super) Vec<String>, pub(super) Option<bool>);

impl<'de> Deserialize<'de> for RawPaths {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match OneOrMore::deserialize(d) {
            Ok(OneOrMore::One(p)) => Ok(RawPaths(vec![p], None)),
            Ok(OneOrMore::More(v)) => Ok(RawPaths(v, None)),
            Ok(OneOrMore::Flag(b)) => Ok(RawPaths(Vec::new(), Some(b))),
            Err(_) => Err(serde::de::Error::custom(
                "expected a string or an array of strings",
            )),
        }
    }
}

/// A `command` behind a Clone-able wrapper (the argv, and whether it is the
/// shell form), with a message that says what forms are accepted.
#[derive(Debug, Clone)]
pub(super) struct RawCommandBox(pub(super) Vec<String>, pub(super) bool);

impl<'de> Deserialize<'de> for RawCommandBox {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match OneOrMore::deserialize(d) {
            Ok(OneOrMore::More(v)) => Ok(RawCommandBox(v, false)),
            Ok(OneOrMore::One(s)) => Ok(RawCommandBox(vec![s], true)),
            Ok(OneOrMore::Flag(_)) | Err(_) => Err(serde::de::Error::custom(
                "expected an array of strings (run directly) or a string (run by /bin/sh -c)",
            )),
        }
    }
}

/// An `env` value as written: a string, or a number or boolean in the text
/// TOML writes for it (`3101`, `1.5`, `true`); anything else is kept as
/// its type's name so that `build` can name its place. Its own visitor
/// rather than `toml::Value`: printing a float through toml would link
/// toml's whole serializer into tend.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum EnvValue {
    Text(String),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EnvVisitor)
    }
}

struct EnvVisitor;

impl<'de> serde::de::Visitor<'de> for EnvVisitor {
    type Value = EnvValue;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string, number or boolean")
    }
    fn visit_str<E>(self, v: &str) -> Result<EnvValue, E> {
        Ok(EnvValue::Text(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<EnvValue, E> {
        Ok(EnvValue::Text(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<EnvValue, E> {
        Ok(EnvValue::Text(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<EnvValue, E> {
        Ok(EnvValue::Text(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<EnvValue, E> {
        Ok(EnvValue::Text(float_text(v)))
    }
    fn visit_bool<E>(self, v: bool) -> Result<EnvValue, E> {
        Ok(EnvValue::Text(v.to_string()))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<EnvValue, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(EnvValue::Other("array"))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<EnvValue, A::Error> {
        // toml hands a date or time over as a one-key map with its own
        // private key name.
        let mut kind = "table";
        while let Some(key) = map.next_key::<String>()? {
            if key.starts_with("$__toml_private") {
                kind = "datetime";
            }
            map.next_value::<serde::de::IgnoredAny>()?;
        }
        Ok(EnvValue::Other(kind))
    }
}

/// A float as TOML writes it: `1.5`, `1000.0` (never `1000`), `inf`, `nan`.
pub(super) fn float_text(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else if v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}
