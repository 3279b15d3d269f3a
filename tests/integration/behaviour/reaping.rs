//! Reaping: as PID 1 tend reaps every zombie, its children's and orphans';
//! not as PID 1 it is a subreaper, so orphans still come to it.

use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

#[test]
fn five_thousand_orphans_leave_no_zombie_as_pid1() {
    require_namespaces!();
    // Each `(true &)` is a subshell that forks one more and exits at once:
    // the inner one is orphaned to PID 1 and dies there. Then the child
    // counts zombies in the namespace while tend still runs.
    let script = "i=0; while [ $i -lt 5000 ]; do (true &); i=$((i+1)); done
        n=1; tries=0
        while [ $n -ne 0 ] && [ $tries -lt 100 ]; do
          n=$(grep -s '^State:.*zombie' /proc/[0-9]*/status | wc -l); tries=$((tries+1)); sleep 0.01
        done
        echo zombies=$n forks=$i";
    let out = output_or_kill(
        tend_pid1(["--", "sh", "-c", script]),
        Duration::from_secs(120),
    );
    assert_eq!(
        stdout(&out).trim(),
        "zombies=0 forks=5000",
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn subreaper_adopts_and_reaps_orphans_when_not_pid1() {
    let dir = TempDir::new("subreaper");
    let d = dir.path().display();
    // The orphan records its pid, waits for its parent to be gone, then
    // records its new parent. The child checks the orphan was reaped.
    let script = format!(
        "(sh -c 'echo $$ > {d}/orphan; sleep 0.3; while read -r k v; do [ \"$k\" = PPid: ] && echo $v > {d}/ppid; done < /proc/$$/status' &)
         while [ ! -s {d}/ppid ]; do sleep 0.02; done
         o=$(cat {d}/orphan); sleep 0.3
         if [ -e /proc/$o ]; then grep State /proc/$o/status; exit 1; fi"
    );
    let mut child = tend(["--", "sh", "-c", &script]).spawn().expect("spawn");
    let tend_pid = child.id();
    let status = wait_or_kill(&mut child, T);
    assert_eq!(
        dir.read("ppid").trim(),
        tend_pid.to_string(),
        "orphan not adopted by tend"
    );
    assert_eq!(status.code(), Some(0), "orphan not reaped");
}
