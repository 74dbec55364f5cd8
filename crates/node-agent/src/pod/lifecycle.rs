//! Container lifecycle hooks and stopping (the kubelet's `killContainer`): postStart,
//! preStop (exec, HTTP GET, sleep), SIGTERM and SIGKILL within the grace period, and the
//! order of a pod's termination (regular containers, then sidecars).

use super::*;

impl PodWorker {
    /// Stops a running container: preStop (if any, up to `grace`), then SIGTERM, then
    /// SIGKILL at the end of the grace period.
    pub(super) async fn kill(&mut self, idx: usize, grace: i64, pre_stop: Option<Duration>) {
        let c = &mut self.ctrs[idx];
        if c.phase != Phase::Running {
            return;
        }
        c.phase = Phase::Killing;
        c.generation += 1;
        c.pending = None;
        let grace = Duration::from_secs(grace.max(0) as u64);
        c.kill_deadline = Some(Instant::now() + self.ctx.clock.real(grace));
        match pre_stop {
            Some(d) if d > Duration::ZERO => {
                let d = d.min(grace);
                self.schedule(idx, d, Step::Term);
            }
            _ => self.send_term(idx),
        }
    }

    pub(super) fn send_term(&mut self, idx: usize) {
        let c = &self.ctrs[idx];
        let remaining = c
            .kill_deadline
            .map(|d| {
                self.ctx
                    .clock
                    .simulated(d.saturating_duration_since(Instant::now()))
            })
            .unwrap_or_default();
        let on_term = c
            .process
            .as_ref()
            .map(Process::on_term)
            .unwrap_or(OnTerm::Exits(Duration::ZERO, 0));
        let (d, code) = match on_term {
            OnTerm::Exits(d, code) if d <= remaining => (d, code),
            _ => (remaining, 137),
        };
        self.schedule(idx, d, Step::KillDone(code));
    }

    /// The pod got a deletionTimestamp: stop every container within the grace period.
    pub(super) async fn begin_termination(&mut self) {
        self.terminating = true;
        let grace = self
            .pod
            .metadata
            .deletion_grace_period_seconds
            .unwrap_or(DEFAULT_GRACE);
        self.grace_deadline = Some(
            Instant::now()
                + self
                    .ctx
                    .clock
                    .real(Duration::from_secs(grace.max(0) as u64)),
        );
        for i in 0..self.ctrs.len() {
            match self.ctrs[i].phase {
                // Sidecars stop after the regular containers (`stop_sidecars`).
                Phase::Running if self.ctrs[i].sidecar => {}
                Phase::Running => {
                    let name = self.ctrs[i].spec.name.clone();
                    self.event(
                        Some(i),
                        false,
                        "Killing",
                        format!("Stopping container {name}"),
                    )
                    .await;
                    let pre_stop = self.run_pre_stop(i).await;
                    self.kill(i, grace, pre_stop).await;
                }
                Phase::Killing => {}
                _ => {
                    let c = &mut self.ctrs[i];
                    c.generation += 1;
                    c.phase = Phase::Done;
                }
            }
        }
    }

    /// Once the regular containers of a terminating pod have stopped, stops the sidecars
    /// with what is left of the grace period (as the kubelet does since sidecars went GA).
    pub(super) async fn stop_sidecars(&mut self) {
        let regular_running = self
            .ctrs
            .iter()
            .any(|c| !c.sidecar && matches!(c.phase, Phase::Running | Phase::Killing));
        if regular_running {
            return;
        }
        let remaining = self
            .grace_deadline
            .map(|d| {
                self.ctx
                    .clock
                    .simulated(d.saturating_duration_since(Instant::now()))
            })
            .unwrap_or_default();
        for i in (0..self.ctrs.len()).rev() {
            if self.ctrs[i].sidecar && self.ctrs[i].phase == Phase::Running {
                let name = self.ctrs[i].spec.name.clone();
                self.event(
                    Some(i),
                    false,
                    "Killing",
                    format!("Stopping container {name}"),
                )
                .await;
                let pre_stop = self.run_pre_stop(i).await;
                self.kill(i, remaining.as_secs() as i64, pre_stop).await;
            }
        }
    }

    /// The pod's termination grace period.
    pub(super) fn pod_grace(&self) -> i64 {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(DEFAULT_GRACE)
    }

    /// Runs the container's postStart hook (exec or httpGet); whether it succeeded.
    pub(super) fn post_start(&mut self, idx: usize) -> bool {
        let Some(hook) = self.ctrs[idx]
            .spec
            .lifecycle
            .as_ref()
            .and_then(|l| l.post_start.clone())
        else {
            return true;
        };
        let spec = self.ctrs[idx].spec.clone();
        let Some(process) = self.ctrs[idx].process.as_mut() else {
            return true;
        };
        if let Some(e) = &hook.exec {
            return process
                .exec(e.command.as_deref().unwrap_or_default())
                .exit_code
                == 0;
        }
        if let Some(h) = &hook.http_get {
            let port = resolve_port(&spec, &h.port);
            let path = h.path.as_deref().unwrap_or("/");
            return matches!(process.http_get(port, path, Duration::ZERO), HttpAnswer::Status(c) if (200..400).contains(&c));
        }
        true
    }

    /// Runs the container's preStop hook; returns how long it takes.
    pub(super) fn pre_stop(&mut self, idx: usize) -> Option<Duration> {
        let hook = self.ctrs[idx].spec.lifecycle.as_ref()?.pre_stop.clone()?;
        if let Some(s) = &hook.sleep {
            return Some(Duration::from_secs(s.seconds.max(0) as u64));
        }
        let spec = self.ctrs[idx].spec.clone();
        let elapsed = self.ctrs[idx]
            .started_real
            .map(|s| self.ctx.clock.simulated(s.elapsed()))
            .unwrap_or_default();
        let process = self.ctrs[idx].process.as_mut()?;
        let ok = if let Some(e) = &hook.exec {
            process
                .exec(e.command.as_deref().unwrap_or_default())
                .exit_code
                == 0
        } else if let Some(h) = &hook.http_get {
            let port = resolve_port(&spec, &h.port);
            matches!(
                process.http_get(port, h.path.as_deref().unwrap_or("/"), elapsed),
                HttpAnswer::Status(c) if (200..400).contains(&c)
            )
        } else {
            true
        };
        self.ctrs[idx].pre_stop_failed = !ok;
        None
    }

    /// Runs the preStop hook, reporting a failure as the kubelet does (without its output).
    pub(super) async fn run_pre_stop(&mut self, idx: usize) -> Option<Duration> {
        let d = self.pre_stop(idx);
        if std::mem::take(&mut self.ctrs[idx].pre_stop_failed) {
            self.event(
                Some(idx),
                true,
                "FailedPreStopHook",
                "PreStopHook failed".into(),
            )
            .await;
        }
        d
    }
}
