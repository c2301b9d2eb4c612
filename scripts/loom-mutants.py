#!/usr/bin/env python3
"""Seeds one bug at a time into the pool's protocols and checks that the loom
suite catches each: the models are only worth what they can fail on.

    python3 scripts/loom-mutants.py            # every mutation
    python3 scripts/loom-mutants.py M2 M5      # some
    python3 scripts/loom-mutants.py --check    # patterns only (CI runs this)

Each mutation is applied to the working tree, the loom suite is run
(release, LOOM_MAX_PREEMPTIONS=2), and the file is restored. Prints a table
of mutation x verdict; exits 1 if any mutation survived.
"""
import os, re, subprocess, sys

MUTANTS = [
    ("M1", "worker leaves `threads` after its stop hook, not when it decides to exit (tokio#8056 class)", "src/worker.rs",
     [("fn exit(shared: &Arc<Shared>, mut st: MutexGuard<'_, State>) {\n    st.threads -= 1;\n", "fn exit(shared: &Arc<Shared>, mut st: MutexGuard<'_, State>) {\n"),
      ("    st.exiting -= 1;\n    shared.exited_locked", "    st.exiting -= 1;\n    st.threads -= 1;\n    shared.exited_locked")]),
    ("M2", "a thread popped for work is never notified", "src/state.rs",
     "            if worker.hand(WORK) {\n                self.notify.push(worker);\n            }",
     "            worker.hand(WORK);"),
    ("M3", "a finished limiter job does not return its token", "src/queue.rs",
     "        let mut st = self.state.lock();\n        st.running -= 1;\n        if let Some(ran) = ran {",
     "        let mut st = self.state.lock();\n        if let Some(ran) = ran {"),
    ("M4", "a second poll keeps the first waker (stale waker)", "src/sync.rs",
     "    if slot.as_ref().is_some_and(|old| old.will_wake(waker)) {",
     "    if slot.is_some() {"),
    ("M5", "close() does not wake idle threads", "src/shutdown.rs",
     "        for worker in st.idle.drain(..) {\n            worker.notify(WAKE);\n        }",
     "        for worker in st.idle.drain(..) {\n            drop(worker);\n        }"),
    ("M6", "a worker claims a job without checking it was withdrawn", "src/job.rs",
     "        let Some(f) = slot.stage.take_pending() else {\n            return Claim::Gone;\n        };",
     "        let Some(f) = slot.stage.take_pending() else {\n            return if matches!(slot.stage, Stage::Gone) { Claim::Claimed(None) } else { Claim::Gone };\n        };"),
    ("M7", "a withdrawn limiter waiter still counts as waiting", "src/queue.rs",
     "        let mut st = self.state.lock();\n        st.waiting -= 1;\n",
     "        let mut st = self.state.lock();\n"),
    ("M8", "counters updated after the Run is woken", "src/job.rs",
     [("        let after = worker::finish(&self.shared, panicked, limiter, worker, &ran, reserved);\n        let mut slot = self.slot.lock();",
       "        let (shared, limiter) = (Arc::clone(&self.shared), limiter.cloned());\n        let mut slot = self.slot.lock();"),
      ("            discard(&self.shared.config, outcome);\n            return after;",
       "            discard(&self.shared.config, outcome);\n            return worker::finish(&shared, panicked, limiter.as_ref(), worker, &ran, reserved);"),
      ("            sync::wake(waker);\n        }\n        after\n",
       "            sync::wake(waker);\n        }\n        worker::finish(&shared, panicked, limiter.as_ref(), worker, &ran, reserved)\n")]),
    ("M9", "a timed-out idle thread exits without checking it was handed work", "src/worker.rs",
     [("            st.stop_spinning(me);\n        }\n        match me.notified.load(Ordering::Relaxed) {",
       "            st.stop_spinning(me);\n        }\n        if timed_out && st.threads > config.min_threads {\n            st.remove_idle(me);\n            return false;\n        }\n        match me.notified.load(Ordering::Relaxed) {")]),
    ("M11", "a spinning thread parks without clearing `spinning` (its hand-off is never notified)", "src/worker.rs",
     "        self.spinners -= 1;\n        worker.spinning.store(false, Ordering::Relaxed);",
     "        self.spinners -= 1;"),
    ("M12", "a woken thread does not wake the next one while jobs remain queued", "src/worker.rs",
     "        if let Some(job) = st.pop_claim() {\n            st.wake_next();",
     "        if let Some(job) = st.pop_claim() {"),
    ("M13", "a surplus thread (cap lowered) does not leave: it stays to take queued work, or idles until its keep-alive", "src/worker.rs",
     "        if st.threads > st.thread_cap() && st.urgent_live == 0 {\n            // Surplus",
     "        if false {\n            // Surplus"),
    ("M14", "submit does not check that the pool is closed (shutdown vs. submit)", "src/pool.rs",
     "    let mut st = shared.lock();\n    if st.closed {",
     "    let mut st = shared.lock();\n    if false {"),
    ("M15", "withdrawing a queued job does not free its place (drop before start)", "src/state.rs",
     "            Loc::Queue => {\n                self.queue_live -= 1;",
     "            Loc::Queue => {"),
    ("M16", "a worker that leaves a backlog behind does not grow the pool", "src/worker.rs",
     "            st.wake_next();\n            st.grow_for_backlog();\n",
     "            st.wake_next();\n"),
    ("M17", "an `iter` job that exits does not wake the stream", "src/iter.rs",
     "                st.busy = false;\n                st.waker.take()\n",
     "                st.busy = false;\n                None::<std::task::Waker>\n"),
    ("M18", "an `Unblock` read/write job that exits does not wake the async side", "src/unblock/job.rs",
     "                st.io = io.take();\n                st.busy = false;\n                st.waker.take()\n",
     "                st.io = io.take();\n                st.busy = false;\n                None::<std::task::Waker>\n"),
    ("M19", "an `Unblock` job's last look and its exit are two steps (bytes written between are stranded)", "src/unblock/job.rs",
     '                let mut st = f(&core, io.as_mut().expect("the job holds the value"));\n',
     '                drop(f(&core, io.as_mut().expect("the job holds the value")));\n                let mut st = core.lock();\n'),
    ("M20", "a parked thread told to spin in a busy spinner's place is not notified", "src/worker.rs",
     "            self.spinners += 1;\n            top.event.notify();",
     "            self.spinners += 1;"),
    ("M21", "the notifications deferred past the pool lock are dropped, not sent", "src/state.rs",
     "        for worker in notify {\n            worker.event.notify();\n        }",
     "        drop(notify);"),
    ("M22", "while more jobs run than cores (blocking jobs), a woken thread wakes nobody", "src/worker.rs",
     "            for _ in 0..2 {",
     "            for _ in 0..0 {"),
    ("M23", "an idle thread's park forgets a notify that came before it (no sticky permit)", "src/sync.rs",
     "            let mut permit = self.permit.lock();\n",
     "            let mut permit = self.permit.lock();\n            *permit = false;\n"),
    ("M24", "a withdrawn limiter waiter is granted a token (its tombstone is not skipped)", "src/queue.rs",
     "            if job.loc() == Loc::Limiter {",
     "            if true {"),
    ("M25", "a waker's panic unwinds into the worker that wakes it", "src/sync.rs",
     "    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || waker.wake())) {\n        drop_quietly(payload);\n    }",
     "    waker.wake();"),
    ("M26", "a Shutdown checks that every worker exited under one lock and registers its waker under a second", "src/shutdown.rs",
     "        loop {\n            let mut st = self.lock();\n            if st.all_exited() {",
     "        loop {\n            if self.lock().all_exited() {\n                return true;\n            }\n            let mut st = self.lock();\n            if false {"),
    ("M27", "an `Unblock`'s close job that ends does not wake `close`", "src/unblock/job.rs",
     "                drop(io.take());\n                let mut st = core.lock();\n                st.busy = false;\n                st.waker.take()\n",
     "                drop(io.take());\n                let mut st = core.lock();\n                st.busy = false;\n                None::<std::task::Waker>\n"),
    ("M28", "a job that finishes does not end its pool's starvation episode", "src/worker.rs",
     "    // A job of the pool finished: an episode of starvation is over.\n    st.starving = false;\n",
     ""),
    ("M29", "the starvation hook is called under the pool lock", "src/observe/starvation.rs",
     "        let stats = (!episodes.is_empty()).then(|| pool::snapshot(self, &st));\n        if next.is_none() {\n            st.armed = false;\n        }\n        drop(st);\n",
     "        let stats = (!episodes.is_empty()).then(|| pool::snapshot(self, &st));\n        if next.is_none() {\n            st.armed = false;\n        }\n        let held = st;\n"),
    ("M30", "the last LagMonitor's drop does not wake the probe", "src/observe/lag.rs",
     "            // The last one: wake the probe now so it ends.\n            let waker = self.shared.state.lock().waker.take();\n",
     "            // The last one: wake the probe now so it ends.\n            let waker: Option<Waker> = None;\n"),
    ("M31", "a watched poll that returned leaves its frame published (the scan reports it as running)", "src/observe/watch/local.rs",
     "        let outer = local.frames.last().copied();\n        local.slot.publish(outer);\n",
     "        let outer = local.frames.last().copied();\n"),
    ("M32", "a slow-poll hook call starts after its watch was dropped", "src/observe/watch/report.rs",
     "        let mut st = watch.state.lock();\n        if !st.alive {\n            return;\n        }\n",
     "        let mut st = watch.state.lock();\n"),
    ("M33", "an expired job's Run is not woken", "src/deadline.rs",
     "        self.deferred.extend(expiry.waker);\n",
     "        drop(expiry.waker);\n"),
    ("M34", "a job that expires in the pool's queue keeps its place and token", "src/deadline.rs",
     "        if loc != Loc::Nowhere {\n            self.withdraw(loc, job.limiter());",
     "        if loc == Loc::Limiter {\n            self.withdraw(loc, job.limiter());"),
    ("M35", "a claimed job stays among the deadlines, and the check expires it while it starts", "src/job.rs",
     [("        let f = slot.stage.take_pending()?;\n        match f.deadline() {",
       "        let f = slot.stage.take(|s| match s {\n            Stage::Pending(f) | Stage::Claimed(f) => Ok(f),\n            other => Err(other),\n        })?;\n        match f.deadline() {"),
      ("        Claim::Claimed(deadline.map(|d| (d, self.addr())))", "        Claim::Claimed(None)")]),
    ("M36", "a paused limiter (limit 0) still grants a freed token", "src/queue.rs",
     "    fn grant_one(&mut self) -> Option<Task> {\n        if self.running >= self.limit {",
     "    fn grant_one(&mut self) -> Option<Task> {\n        if self.running >= self.limit.max(1) {"),
    ("M37", "the ordinary cap counts threads, not ordinary jobs (an ordinary job takes a set-aside thread)", "src/state.rs",
     "        self.running - self.running_reserved < self.max_threads\n",
     "        self.running < self.max_threads + self.reserved\n"),
    ("M38", "a reserved job waits in the pool's queue behind ordinary jobs", "src/state.rs",
     "        if job.limiter().is_some_and(|limiter| limiter.is_reserved()) {",
     "        if false && job.limiter().is_some_and(|limiter| limiter.is_reserved()) {"),
    ("M39", "a dropped reservation stays counted in `reserved`", "src/reserve.rs",
     "        st.reserved -= self.tokens.limit();\n",
     ""),
    ("M40", "a surplus thread leaves while a reserved job granted before the shrink waits for it", "src/worker.rs",
     "        if st.threads > st.thread_cap() && st.urgent_live == 0 {\n",
     "        if st.threads > st.thread_cap() {\n"),
    ("M41", "a thread whose spin ends goes below the threads still spinning (the old rule: breaks LIFO)", "src/worker.rs",
     "        worker.spinning.store(false, Ordering::Relaxed);\n        if worker.notified.load(Ordering::Relaxed) == WORK\n",
     "        worker.spinning.store(false, Ordering::Relaxed);\n        if worker.notified.load(Ordering::Relaxed) == NONE && self.spinners > 0 {\n            if let Some(at) = self.idle.iter().position(|p| Arc::ptr_eq(p, worker)) {\n                let me = self.idle.remove(at);\n                self.idle.insert(0, me);\n            }\n        }\n        if worker.notified.load(Ordering::Relaxed) == WORK\n"),
    ("M10", "a raised limit does not grant waiters", "src/queue.rs",
     "        while let Some(job) = st.grant_one() {\n            granted.push(job);\n        }",
     ""),
]

def run_suite():
    env = dict(os.environ, CARGO_TARGET_DIR="target/loom", RUSTFLAGS="--cfg threadbridge_loom",
               LOOM_MAX_PREEMPTIONS="2", RUST_BACKTRACE="0")
    p = subprocess.run(["cargo", "test", "-q", "--release", "--lib", "--test", "loom"], env=env,
                       capture_output=True, text=True, timeout=1800)
    out = p.stdout + p.stderr
    failed = sorted(set(re.findall(r"^    (\w+)$", out, re.M)) | set(re.findall(r"thread '(\w+)' \(\d+\) panicked", out)))
    if p.returncode == 0:
        return "SURVIVED (suite passed)"
    if "error[" in out and "could not compile" in out:
        return "did not compile"
    kind = "deadlock" if "deadlock" in out else "assertion"
    return f"caught: {kind} in {', '.join(failed) or '(aborted)'}"

def check():
    """--check: every mutant's pattern stands exactly once in its file (no
    suite is run): a mutant that went stale when its code moved fails CI
    instead of being skipped."""
    stale = []
    for name, what, path, *edits in MUTANTS:
        edits = edits[0] if isinstance(edits[0], list) else [tuple(edits)]
        text = open(path).read()
        if any(text.count(old) != 1 for old, _ in edits):
            stale.append(name)
    print(f"{len(MUTANTS)} mutants, stale: {', '.join(stale) or 'none'}")
    sys.exit(1 if stale else 0)

def main():
    if sys.argv[1:] == ["--check"]:
        check()
    want = set(sys.argv[1:])
    survived = False
    rows = []
    for name, what, path, *edits in MUTANTS:
        if want and name not in want:
            continue
        edits = edits[0] if isinstance(edits[0], list) else [tuple(edits)]
        text = open(path).read()
        if any(text.count(old) != 1 for old, _ in edits):
            rows.append((name, what, "STALE: pattern not found once"))
            survived = True
            continue
        mutated = text
        for old, new in edits:
            mutated = mutated.replace(old, new)
        try:
            open(path, "w").write(mutated)
            verdict = run_suite()
        finally:
            open(path, "w").write(text)
        survived |= verdict.startswith("SURVIVED")
        rows.append((name, what, verdict))
        print(f"{name}: {verdict}", flush=True)
    print("\n| mutation | seeded bug | loom verdict |\n|---|---|---|")
    for r in rows:
        print("| %s | %s | %s |" % r)
    sys.exit(1 if survived else 0)

main()
