//! `user` and `group` → numeric ids, read straight from /etc/passwd and
//! /etc/group: NSS (getpwnam) does not work in a static binary.

use crate::config::Id;

/// Who an app runs as: ids, supplementary groups, and the passwd facts that
/// become HOME/USER/LOGNAME when a user is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub user: Option<String>,
    pub home: Option<String>,
}

/// A passwd entry: name, uid, primary gid, home.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn parse_passwd(text: &str) -> impl Iterator<Item = PasswdEntry> + '_ {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || line.starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: f[0].to_string(),
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5].to_string(),
        })
    })
}

/// A group entry: name, gid, members.
fn parse_group(text: &str) -> impl Iterator<Item = (String, u32, Vec<String>)> + '_ {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 || line.starts_with('#') {
            return None;
        }
        let members = f[3]
            .split(',')
            .filter(|m| !m.is_empty())
            .map(String::from)
            .collect();
        Some((f[0].to_string(), f[2].parse().ok()?, members))
    })
}

/// Resolves `user`/`group` against the texts of /etc/passwd and /etc/group.
pub fn resolve_with(
    user: Option<&Id>,
    group: Option<&Id>,
    passwd: &str,
    groups: &str,
) -> Result<Creds, String> {
    let entry = match user {
        None => None,
        Some(Id::Number(uid)) => Some(parse_passwd(passwd).find(|e| e.uid == *uid).unwrap_or(
            PasswdEntry {
                name: String::new(),
                uid: *uid,
                gid: *uid,
                home: String::new(),
            },
        )),
        Some(Id::Name(name)) => Some(
            parse_passwd(passwd)
                .find(|e| e.name == *name)
                .ok_or_else(|| format!("user {name:?} not found in /etc/passwd"))?,
        ),
    };
    let gid = match group {
        Some(Id::Number(gid)) => Some(*gid),
        Some(Id::Name(name)) => Some(
            parse_group(groups)
                .find(|(n, _, _)| n == name)
                .map(|(_, gid, _)| gid)
                .ok_or_else(|| format!("group {name:?} not found in /etc/group"))?,
        ),
        None => None,
    };
    // SAFETY: getuid/getgid have no memory effects.
    let (my_uid, my_gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let Some(e) = entry else {
        let gid = gid.unwrap_or(my_gid);
        return Ok(Creds {
            uid: my_uid,
            gid,
            groups: vec![gid],
            user: None,
            home: None,
        });
    };
    let gid = gid.unwrap_or(e.gid);
    let mut supplementary = vec![gid];
    if !e.name.is_empty() {
        for (_, g, members) in parse_group(groups) {
            if members.contains(&e.name) && !supplementary.contains(&g) {
                supplementary.push(g);
            }
        }
    }
    Ok(Creds {
        uid: e.uid,
        gid,
        groups: supplementary,
        user: (!e.name.is_empty()).then(|| e.name.clone()),
        home: (!e.home.is_empty()).then(|| e.home.clone()),
    })
}

/// Resolves against this machine's files; None when nothing is asked.
pub fn resolve(user: Option<&Id>, group: Option<&Id>) -> Result<Option<Creds>, String> {
    if user.is_none() && group.is_none() {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    resolve_with(user, group, &passwd, &groups).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n# comment\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nweb:x:1000:1000::/home/web:/bin/sh\n";
    const GROUP: &str =
        "root:x:0:\nnogroup:x:65534:\nweb:x:1000:\nssl:x:110:web,other\ndocker:x:999:other\n";

    #[test]
    fn names_and_numbers() {
        let c = resolve_with(Some(&Id::Name("web".into())), None, PASSWD, GROUP).unwrap();
        assert_eq!((c.uid, c.gid), (1000, 1000));
        assert_eq!(c.groups, [1000, 110], "primary then supplementary");
        assert_eq!(c.home.as_deref(), Some("/home/web"));
        assert_eq!(c.user.as_deref(), Some("web"));

        let c = resolve_with(
            Some(&Id::Name("nobody".into())),
            Some(&Id::Name("nogroup".into())),
            PASSWD,
            GROUP,
        )
        .unwrap();
        assert_eq!((c.uid, c.gid), (65534, 65534));

        let c = resolve_with(Some(&Id::Number(4242)), None, PASSWD, GROUP).unwrap();
        assert_eq!(
            (c.uid, c.gid, c.user),
            (4242, 4242, None),
            "unknown uid: its own number as gid"
        );

        let c = resolve_with(Some(&Id::Number(1000)), Some(&Id::Number(5)), PASSWD, GROUP).unwrap();
        assert_eq!((c.uid, c.gid), (1000, 5));
    }

    #[test]
    fn unknown_names_are_errors() {
        let e = resolve_with(Some(&Id::Name("ghost".into())), None, PASSWD, GROUP).unwrap_err();
        assert_eq!(e, "user \"ghost\" not found in /etc/passwd");
        let e = resolve_with(None, Some(&Id::Name("ghosts".into())), PASSWD, GROUP).unwrap_err();
        assert_eq!(e, "group \"ghosts\" not found in /etc/group");
    }
}
