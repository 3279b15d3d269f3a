//! The checks that need every app at once, after each is built: instance
//! names unique over the file, and no cycle in `after` (each reported once,
//! naming its apps in order).

use toml::Spanned;

use super::raw::RawApp;
use super::{AppSpec, Problem};

/// Instance names must be unique (`web` with 2 instances and an app named
/// `web.0` cannot both exist; names cannot hold dots, but be safe).
pub(super) fn check_names(
    raw: &[(Spanned<String>, RawApp)],
    apps: &[AppSpec],
    problems: &mut Vec<Problem>,
) {
    let mut seen = std::collections::BTreeSet::new();
    for app in apps {
        if !seen.insert(app.name.as_str()) {
            let span = raw
                .iter()
                .find(|(n, _)| *n.get_ref() == app.app)
                .map_or(0..0, |(n, _)| n.span());
            problems.push(Problem {
                span,
                key: format!("app.{}", app.app),
                message: format!("duplicate instance name {:?}", app.name),
            });
        }
    }
}

/// Reports each `after` cycle once, naming the apps in it.
pub(super) fn check_cycles(
    raw: &[(Spanned<String>, RawApp)],
    defaults: &RawApp,
    problems: &mut Vec<Problem>,
) {
    let deps = |i: usize| -> Vec<usize> {
        let after = raw[i].1.after.as_ref().or(defaults.after.as_ref());
        after
            .map(|a| {
                a.get_ref()
                    .iter()
                    .filter_map(|d| raw.iter().position(|(n, _)| n.get_ref() == d.get_ref()))
                    .filter(|&j| j != i)
                    .collect()
            })
            .unwrap_or_default()
    };
    // Colours: 0 unvisited, 1 on the current path, 2 done.
    let mut colour = vec![0u8; raw.len()];
    let mut reported = std::collections::BTreeSet::new();
    fn visit(
        i: usize,
        path: &mut Vec<usize>,
        colour: &mut [u8],
        deps: &dyn Fn(usize) -> Vec<usize>,
        cycles: &mut Vec<Vec<usize>>,
    ) {
        colour[i] = 1;
        path.push(i);
        for j in deps(i) {
            match colour[j] {
                0 => visit(j, path, colour, deps, cycles),
                1 => {
                    let start = path.iter().position(|&p| p == j).unwrap_or(0);
                    cycles.push(path[start..].to_vec());
                }
                _ => {}
            }
        }
        path.pop();
        colour[i] = 2;
    }
    let mut cycles = Vec::new();
    for i in 0..raw.len() {
        if colour[i] == 0 {
            visit(i, &mut Vec::new(), &mut colour, &deps, &mut cycles);
        }
    }
    for cycle in cycles {
        let mut key: Vec<usize> = cycle.clone();
        key.sort_unstable();
        if !reported.insert(key) {
            continue;
        }
        let first = cycle[0];
        let names: Vec<&str> = cycle
            .iter()
            .chain(std::iter::once(&first))
            .map(|&i| raw[i].0.get_ref().as_str())
            .collect();
        let span = raw[first]
            .1
            .after
            .as_ref()
            .map_or_else(|| raw[first].0.span(), |a| a.span());
        problems.push(Problem {
            span,
            key: format!("app.{}.after", raw[first].0.get_ref()),
            message: format!("dependency cycle: {}", names.join(" -> ")),
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::problems;

    #[test]
    fn after_cycles_are_named() {
        let text = "[app.a]\ncommand = \"x\"\nafter = [\"b\"]\n[app.b]\ncommand = \"x\"\nafter = [\"c\"]\n[app.c]\ncommand = \"x\"\nafter = [\"a\"]\n[app.d]\ncommand = \"x\"\nafter = [\"a\"]\n";
        let got = problems(text);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].contains("dependency cycle: a -> b -> c -> a"),
            "{got:?}"
        );
    }
}
