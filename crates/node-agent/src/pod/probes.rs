//! Probes (the kubelet's `prober/`): startup, liveness and readiness through the simulated
//! process (exec, HTTP GET, TCP, gRPC as TCP), their thresholds and periods, the `Unhealthy`
//! events and the kill of a container that fails its liveness or startup probe.

use super::*;

impl PodWorker {
    pub(super) fn schedule_probe(&mut self, idx: usize, kind: ProbeKind, first: bool) {
        let Some(p) = kind.probe(&self.ctrs[idx].spec) else {
            return;
        };
        let period = Duration::from_secs(p.period_seconds.unwrap_or(10).max(1) as u64);
        let d = if first {
            let initial = Duration::from_secs(p.initial_delay_seconds.unwrap_or(0).max(0) as u64);
            let since = self.ctrs[idx]
                .started_real
                .map(|s| self.ctx.clock.simulated(s.elapsed()))
                .unwrap_or_default();
            // The first probe runs after the initial delay, within one period.
            initial
                .saturating_sub(since)
                .max(period.min(Duration::from_secs(1)))
        } else {
            period
        };
        self.schedule(idx, d, Step::Probe(kind));
    }

    pub(super) fn run_probe(&mut self, idx: usize, p: &Probe) -> Result<(), String> {
        let ip = self.ips.first().map(|i| i.to_string()).unwrap_or_default();
        let elapsed = self.ctrs[idx]
            .started_real
            .map(|s| self.ctx.clock.simulated(s.elapsed()))
            .unwrap_or_default();
        let spec = self.ctrs[idx].spec.clone();
        let Some(process) = self.ctrs[idx].process.as_mut() else {
            return Err("container not running".into());
        };
        if let Some(e) = &p.exec {
            let ExecResult { exit_code, output } =
                process.exec(e.command.as_deref().unwrap_or_default());
            return if exit_code == 0 { Ok(()) } else { Err(output) };
        }
        if let Some(h) = &p.http_get {
            let port = resolve_port(&spec, &h.port);
            let path = h.path.clone().unwrap_or_else(|| "/".into());
            let host = h.host.clone().filter(|h| !h.is_empty()).unwrap_or(ip);
            let scheme = h.scheme.as_deref().unwrap_or("HTTP").to_lowercase();
            return match process.http_get(port, &path, elapsed) {
                HttpAnswer::Status(code) if (200..400).contains(&code) => Ok(()),
                HttpAnswer::Status(code) => {
                    Err(format!("HTTP probe failed with statuscode: {code}"))
                }
                HttpAnswer::Refused => Err(format!(
                    "Get \"{scheme}://{}:{port}{path}\": dial tcp {}:{port}: connect: connection refused",
                    bracket(&host),
                    bracket(&host)
                )),
            };
        }
        if let Some(t) = &p.tcp_socket {
            let port = resolve_port(&spec, &t.port);
            let host = t.host.clone().filter(|h| !h.is_empty()).unwrap_or(ip);
            return if process.tcp_open(port) {
                Ok(())
            } else {
                Err(format!(
                    "dial tcp {}:{port}: connect: connection refused",
                    bracket(&host)
                ))
            };
        }
        if let Some(g) = &p.grpc {
            let port = g.port.max(0) as u16;
            return if process.tcp_open(port) {
                Ok(())
            } else {
                Err(format!(
                    "timeout: failed to connect service \"{}:{port}\" within 1s",
                    bracket(&ip)
                ))
            };
        }
        Ok(())
    }

    pub(super) async fn probe(&mut self, idx: usize, kind: ProbeKind) {
        if self.ctrs[idx].phase != Phase::Running {
            return;
        }
        let Some(p) = kind.probe(&self.ctrs[idx].spec).cloned() else {
            return;
        };
        let result = self.run_probe(idx, &p);
        let success_threshold = p.success_threshold.unwrap_or(1).max(1);
        let failure_threshold = p.failure_threshold.unwrap_or(3).max(1);
        let state = {
            let s = self.ctrs[idx].probes.entry(kind).or_default();
            match &result {
                Ok(()) => {
                    s.successes += 1;
                    s.failures = 0;
                }
                Err(_) => {
                    s.failures += 1;
                    s.successes = 0;
                }
            }
            *s
        };
        if let Err(output) = &result {
            self.event(
                Some(idx),
                true,
                "Unhealthy",
                format!("{} probe failed: {output}", kind.title()),
            )
            .await;
        }
        match kind {
            ProbeKind::Startup => {
                if state.successes >= success_threshold {
                    self.ctrs[idx].st.started = true;
                    if self.ctrs[idx].spec.readiness_probe.is_none()
                        && (!self.ctrs[idx].init || self.ctrs[idx].sidecar)
                    {
                        self.ctrs[idx].st.ready = true;
                    }
                    self.schedule_probe(idx, ProbeKind::Liveness, true);
                    self.schedule_probe(idx, ProbeKind::Readiness, true);
                    if self.ctrs[idx].sidecar {
                        self.advance_boxed().await;
                    }
                    return;
                }
                if state.failures >= failure_threshold {
                    self.probe_kill(idx, &p, "startup").await;
                    return;
                }
            }
            ProbeKind::Liveness => {
                if state.failures >= failure_threshold {
                    self.probe_kill(idx, &p, "liveness").await;
                    return;
                }
            }
            ProbeKind::Readiness => {
                let c = &mut self.ctrs[idx];
                if state.successes >= success_threshold {
                    c.st.ready = true;
                } else if state.failures >= failure_threshold {
                    c.st.ready = false;
                }
            }
        }
        self.schedule_probe(idx, kind, false);
    }

    pub(super) async fn probe_kill(&mut self, idx: usize, p: &Probe, what: &str) {
        let name = self.ctrs[idx].spec.name.clone();
        self.event(
            Some(idx),
            false,
            "Killing",
            format!("Container {name} failed {what} probe, will be restarted"),
        )
        .await;
        let grace = p
            .termination_grace_period_seconds
            .unwrap_or_else(|| self.pod_grace());
        self.kill(idx, grace, None).await;
    }
}
