//! One batch's probes in flight: what was sent, what came back, and when each cell is done.
//!
//! The real prober ([`super::kernel`]) sends the probes of a batch, then reads every socket it
//! opened from one thread (one `epoll` over all of them) and hands what it read here: an echo reply, an echo request seen arriving at its target (the "seen as"
//! address), an ICMP error quoting a request, an ARP reply on one interface's socket, a TCP
//! connect that finished. [`InFlight`] turns those events into one [`Observation`] per probe:
//! - an echo reply waits for the request's sighting at its target for at most a grace period
//!   (the target's socket can be read just after the source's), then is reported with it;
//! - every probe still waiting at the deadline is reported as what its kind calls silence:
//!   `Timeout` for ICMP and TCP, `NoArpReply` for ARP, with the sighting when the request
//!   arrived but nothing came back (NAT one way, no route back).
//!
//! The echo requests of a large batch are sent from a second thread (the kernel floods each
//! one's who-has within the send), which tells this one about each send afterwards: a reply or
//! error read before its request is known here is kept and matched when it is.
//!
//! It does no I/O and reads no clock: every call takes the time, so it is unit-tested with
//! made-up instants.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::{Observation, ProbeOutcome};

/// An echo request waiting for its answer.
#[derive(Debug, Clone, Copy)]
struct EchoWait {
    token: usize,
    sent: Instant,
    /// The target's namespace is read for sightings, so a reply may wait for one.
    listened: bool,
    /// The reply's round-trip time and when the grace for its sighting ends.
    replied: Option<(Duration, Instant)>,
}

/// The events of one batch and the cells they finish.
#[derive(Debug)]
pub struct InFlight {
    deadline: Instant,
    /// Whether the deadline holds yet: not while the batch is still being sent (a probe sent
    /// last must get its whole timeout, however long the sending took).
    armed: bool,
    grace: Duration,
    /// (identifier, sequence) -> the echo request.
    echo: HashMap<(u16, u16), EchoWait>,
    /// (identifier, sequence) -> the source address its target saw.
    seen: HashMap<(u16, u16), IpAddr>,
    /// (socket, target) -> the ARP probes waiting for that target's answer on that socket.
    arp: HashMap<(usize, Ipv4Addr), Vec<(usize, Instant)>>,
    /// connection -> the TCP probe and when its connect started.
    tcp: HashMap<usize, (usize, Instant)>,
    /// (identifier, sequence) -> an answer read before its request was recorded as sent.
    early: HashMap<(u16, u16), Early>,
    done: Vec<(usize, Observation)>,
}

/// An echo answer read before its request was recorded.
#[derive(Debug, Clone)]
enum Early {
    Reply(Instant),
    Error(String, IpAddr),
}

impl InFlight {
    /// A batch whose probes give up at `deadline`; a reply waits at most `grace` for its
    /// sighting.
    pub fn new(deadline: Instant, grace: Duration) -> Self {
        InFlight {
            deadline,
            armed: true,
            grace,
            echo: HashMap::new(),
            seen: HashMap::new(),
            arp: HashMap::new(),
            tcp: HashMap::new(),
            early: HashMap::new(),
            done: Vec::new(),
        }
    }

    /// A batch about to be sent: nothing times out until [`InFlight::extend_deadline`] sets the
    /// deadline after the last send (`deadline` is only what [`InFlight::next_wake`] says until
    /// then).
    pub fn while_sending(deadline: Instant, grace: Duration) -> Self {
        InFlight {
            armed: false,
            ..InFlight::new(deadline, grace)
        }
    }

    /// Move the deadline to `deadline` if that is later (it counts from the batch's last send),
    /// and let it hold.
    pub fn extend_deadline(&mut self, deadline: Instant) {
        self.deadline = self.deadline.max(deadline);
        self.armed = true;
    }

    /// A probe that finished at once (a send that failed, a target that cannot be probed).
    pub fn finished(&mut self, token: usize, obs: Observation) {
        self.done.push((token, obs));
    }

    /// Echo request `id`/`seq` of probe `token` left at `at`; `listened` when its target's
    /// namespace is read for sightings.
    pub fn echo_sent(&mut self, token: usize, id: u16, seq: u16, at: Instant, listened: bool) {
        self.echo.insert(
            (id, seq),
            EchoWait {
                token,
                sent: at,
                listened,
                replied: None,
            },
        );
        match self.early.remove(&(id, seq)) {
            Some(Early::Reply(when)) => self.echo_reply(id, seq, when),
            Some(Early::Error(what, from)) => self.echo_error(id, seq, &what, from),
            None => {}
        }
    }

    /// An echo reply to `id`/`seq` arrived at `at`.
    pub fn echo_reply(&mut self, id: u16, seq: u16, at: Instant) {
        let Some(w) = self.echo.get_mut(&(id, seq)) else {
            // Not ours, already answered, or read before its request was recorded.
            self.early.entry((id, seq)).or_insert(Early::Reply(at));
            return;
        };
        if w.replied.is_some() {
            return;
        }
        let rtt = at.saturating_duration_since(w.sent);
        if !w.listened || self.seen.contains_key(&(id, seq)) {
            let w = *w;
            self.echo.remove(&(id, seq));
            self.finish_reply(id, seq, w.token, rtt);
        } else {
            w.replied = Some((rtt, at + self.grace));
        }
    }

    /// Echo request `id`/`seq` was seen arriving at its target from `source`.
    pub fn echo_seen(&mut self, id: u16, seq: u16, source: IpAddr) {
        self.seen.entry((id, seq)).or_insert(source);
        if let Some(w) = self.echo.get(&(id, seq)).copied() {
            if let Some((rtt, _)) = w.replied {
                self.echo.remove(&(id, seq));
                self.finish_reply(id, seq, w.token, rtt);
            }
        }
    }

    /// An ICMP error (`what`, from `from`) quoting echo request `id`/`seq`.
    pub fn echo_error(&mut self, id: u16, seq: u16, what: &str, from: IpAddr) {
        let Some(w) = self.echo.get(&(id, seq)).copied() else {
            self.early
                .entry((id, seq))
                .or_insert_with(|| Early::Error(what.to_string(), from));
            return;
        };
        if w.replied.is_some() {
            return; // a reply came first: that is the answer
        }
        self.echo.remove(&(id, seq));
        let mut obs =
            Observation::outcome(ProbeOutcome::Unreachable(format!("{what} from {from}")));
        obs.seen_as = self.seen.get(&(id, seq)).copied();
        self.done.push((w.token, obs));
    }

    fn finish_reply(&mut self, id: u16, seq: u16, token: usize, rtt: Duration) {
        let mut obs = Observation::outcome(ProbeOutcome::Reply);
        obs.rtt_us = Some(rtt.as_micros() as u64);
        obs.seen_as = self.seen.get(&(id, seq)).copied();
        self.done.push((token, obs));
    }

    /// ARP probe `token` asked who has `target` on socket `socket` at `at`.
    pub fn arp_sent(&mut self, token: usize, socket: usize, target: Ipv4Addr, at: Instant) {
        self.arp
            .entry((socket, target))
            .or_default()
            .push((token, at));
    }

    /// `sender` answered at `mac` on socket `socket` at `at`.
    pub fn arp_reply(&mut self, socket: usize, sender: Ipv4Addr, mac: &str, at: Instant) {
        if let Some(waiting) = self.arp.remove(&(socket, sender)) {
            for (token, sent) in waiting {
                let mut obs = Observation::outcome(ProbeOutcome::Reply);
                obs.rtt_us = Some(at.saturating_duration_since(sent).as_micros() as u64);
                obs.arp_mac = Some(mac.to_string());
                self.done.push((token, obs));
            }
        }
    }

    /// TCP probe `token`'s connect on connection `conn` started at `at`.
    pub fn tcp_started(&mut self, token: usize, conn: usize, at: Instant) {
        self.tcp.insert(conn, (token, at));
    }

    /// Connection `conn` finished at `at` with `outcome` (`Reply` when it was accepted).
    pub fn tcp_done(&mut self, conn: usize, outcome: ProbeOutcome, at: Instant) {
        let Some((token, started)) = self.tcp.remove(&conn) else {
            return;
        };
        let timed = matches!(outcome, ProbeOutcome::Reply | ProbeOutcome::Refused);
        let mut obs = Observation::outcome(outcome);
        if timed {
            obs.rtt_us = Some(at.saturating_duration_since(started).as_micros() as u64);
        }
        self.done.push((token, obs));
    }

    /// Hand every finished probe to `report`; at or past the deadline, every probe still
    /// waiting too (as its kind's silence), and replies whose grace has passed without a
    /// sighting.
    pub fn drain(&mut self, now: Instant, report: &mut dyn FnMut(usize, Observation)) {
        let late: Vec<(u16, u16)> = self
            .echo
            .iter()
            .filter(|(_, w)| w.replied.is_some_and(|(_, until)| now >= until))
            .map(|(k, _)| *k)
            .collect();
        for (id, seq) in late {
            if let Some(w) = self.echo.remove(&(id, seq)) {
                let rtt = w.replied.map(|(r, _)| r).unwrap_or_default();
                self.finish_reply(id, seq, w.token, rtt);
            }
        }
        if self.armed && now >= self.deadline {
            for ((id, seq), w) in std::mem::take(&mut self.echo) {
                match w.replied {
                    Some((rtt, _)) => self.finish_reply(id, seq, w.token, rtt),
                    None => {
                        let mut obs = Observation::outcome(ProbeOutcome::Timeout);
                        obs.seen_as = self.seen.get(&(id, seq)).copied();
                        self.done.push((w.token, obs));
                    }
                }
            }
            for (_, waiting) in std::mem::take(&mut self.arp) {
                for (token, _) in waiting {
                    self.done
                        .push((token, Observation::outcome(ProbeOutcome::NoArpReply)));
                }
            }
            for (_, (token, _)) in std::mem::take(&mut self.tcp) {
                self.done
                    .push((token, Observation::outcome(ProbeOutcome::Timeout)));
            }
        }
        for (token, obs) in self.done.drain(..) {
            report(token, obs);
        }
    }

    /// Whether every probe has been handed out by [`InFlight::drain`].
    pub fn is_done(&self) -> bool {
        self.echo.is_empty() && self.arp.is_empty() && self.tcp.is_empty() && self.done.is_empty()
    }

    /// When the next probe finishes without an event: the earliest grace end, else the
    /// deadline.
    pub fn next_wake(&self) -> Instant {
        self.echo
            .values()
            .filter_map(|w| w.replied.map(|(_, until)| until))
            .min()
            .map_or(self.deadline, |g| g.min(self.deadline))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drained(f: &mut InFlight, now: Instant) -> Vec<(usize, Observation)> {
        let mut got = Vec::new();
        f.drain(now, &mut |t, o| got.push((t, o)));
        got.sort_by_key(|(t, _)| *t);
        got
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn nothing_times_out_while_the_batch_is_still_being_sent() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut f = InFlight::while_sending(t0 + ms(100), ms(10));
        f.echo_sent(1, 7, 0, t0, false);
        f.arp_sent(2, 0, "10.0.0.2".parse().unwrap(), t0);
        // Sending took longer than the timeout: the early probes are still waiting.
        assert!(drained(&mut f, t0 + ms(500)).is_empty());
        f.extend_deadline(t0 + ms(600));
        assert!(drained(&mut f, t0 + ms(599)).is_empty());
        let got = drained(&mut f, t0 + ms(600));
        let outcomes: Vec<_> = got.iter().map(|(t, o)| (*t, o.outcome.clone())).collect();
        assert_eq!(
            outcomes,
            vec![(1, ProbeOutcome::Timeout), (2, ProbeOutcome::NoArpReply)]
        );
    }

    #[test]
    fn an_answer_read_before_its_request_was_recorded_answers_it() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut f = InFlight::new(t0 + Duration::from_secs(1), ms(100));
        // Read on the main thread before the sending thread said it sent them.
        f.echo_reply(7, 0, t0 + ms(4));
        f.echo_seen(7, 0, ip("10.0.0.2"));
        f.echo_error(7, 1, "host unreachable", ip("10.0.0.1"));
        f.echo_reply(7, 3, t0 + ms(1)); // never sent in this batch: stays unanswered
        assert!(drained(&mut f, t0 + ms(5)).is_empty());
        f.echo_sent(1, 7, 0, t0 + ms(1), true);
        f.echo_sent(2, 7, 1, t0 + ms(2), false);
        f.echo_sent(3, 7, 2, t0 + ms(2), false);
        let got = drained(&mut f, t0 + ms(6));
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, 1);
        assert_eq!(got[0].1.outcome, ProbeOutcome::Reply);
        assert_eq!(got[0].1.rtt_us, Some(3000));
        assert_eq!(got[0].1.seen_as, Some(ip("10.0.0.2")));
        assert_eq!(got[1].0, 2);
        assert_eq!(
            got[1].1.outcome,
            ProbeOutcome::Unreachable("host unreachable from 10.0.0.1".into())
        );
        let rest = drained(&mut f, t0 + Duration::from_secs(1));
        assert_eq!(rest.len(), 1);
        assert_eq!((rest[0].0, &rest[0].1.outcome), (3, &ProbeOutcome::Timeout));
    }

    #[test]
    fn a_reply_waits_for_its_sighting_within_the_grace_only() {
        let t0 = Instant::now();
        let mut f = InFlight::new(t0 + Duration::from_secs(1), Duration::from_millis(100));
        f.echo_sent(1, 7, 0, t0, true);
        f.echo_sent(2, 7, 1, t0, true);
        f.echo_reply(7, 0, t0 + Duration::from_millis(3));
        f.echo_reply(7, 1, t0 + Duration::from_millis(4));
        assert!(drained(&mut f, t0 + Duration::from_millis(5)).is_empty());
        assert_eq!(f.next_wake(), t0 + Duration::from_millis(103));
        // Probe 1's request is seen at its target (NAT: the host's address): it is done.
        f.echo_seen(7, 0, ip("192.168.50.10"));
        let got = drained(&mut f, t0 + Duration::from_millis(6));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, 1);
        assert_eq!(got[0].1.outcome, ProbeOutcome::Reply);
        assert_eq!(got[0].1.rtt_us, Some(3000));
        assert_eq!(got[0].1.seen_as, Some(ip("192.168.50.10")));
        // Probe 2's is never seen: reported after its grace, without a sighting.
        assert!(drained(&mut f, t0 + Duration::from_millis(50)).is_empty());
        let got = drained(&mut f, t0 + Duration::from_millis(104));
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].0, got[0].1.outcome.clone(), got[0].1.seen_as),
            (2, ProbeOutcome::Reply, None)
        );
        assert!(f.is_done());
    }

    #[test]
    fn a_sighting_before_the_reply_and_an_unlistened_target_finish_at_once() {
        let t0 = Instant::now();
        let mut f = InFlight::new(t0 + Duration::from_secs(1), Duration::from_millis(100));
        f.echo_sent(1, 1, 1, t0, true);
        f.echo_sent(2, 1, 2, t0, false);
        f.echo_seen(1, 1, ip("10.0.0.2"));
        f.echo_reply(1, 1, t0 + Duration::from_millis(2));
        f.echo_reply(1, 2, t0 + Duration::from_millis(2));
        // A duplicate reply (a bridge hairpin can deliver two) changes nothing.
        f.echo_reply(1, 1, t0 + Duration::from_millis(9));
        let got = drained(&mut f, t0 + Duration::from_millis(2));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1.seen_as, Some(ip("10.0.0.2")));
        assert_eq!(got[1].1.seen_as, None);
        assert!(f.is_done());
    }

    #[test]
    fn silence_at_the_deadline_is_each_kinds_own_outcome_and_keeps_the_sighting() {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(1);
        let mut f = InFlight::new(deadline, Duration::from_millis(100));
        f.echo_sent(1, 3, 0, t0, true);
        f.echo_seen(3, 0, ip("172.17.0.2")); // arrived, no reply came back
        f.arp_sent(2, 0, Ipv4Addr::new(10, 0, 0, 9), t0);
        f.tcp_started(3, 0, t0);
        assert_eq!(f.next_wake(), deadline);
        assert!(drained(&mut f, deadline - Duration::from_millis(1)).is_empty());
        let got = drained(&mut f, deadline);
        let outcomes: Vec<_> = got
            .iter()
            .map(|(t, o)| (*t, o.outcome.clone(), o.seen_as))
            .collect();
        assert_eq!(
            outcomes,
            vec![
                (1, ProbeOutcome::Timeout, Some(ip("172.17.0.2"))),
                (2, ProbeOutcome::NoArpReply, None),
                (3, ProbeOutcome::Timeout, None),
            ]
        );
        assert!(f.is_done());
    }

    #[test]
    fn an_arp_reply_answers_every_probe_of_its_target_on_its_socket_only() {
        let t0 = Instant::now();
        let mut f = InFlight::new(t0 + Duration::from_secs(1), Duration::ZERO);
        let target = Ipv4Addr::new(10, 0, 0, 2);
        f.arp_sent(1, 0, target, t0);
        f.arp_sent(2, 0, target, t0); // the same target asked twice (two addresses' cells)
        f.arp_sent(3, 1, target, t0); // another source's socket asks it too
        f.arp_sent(4, 0, Ipv4Addr::new(10, 0, 0, 3), t0);
        f.arp_reply(
            0,
            target,
            "02:00:00:00:00:02",
            t0 + Duration::from_millis(1),
        );
        // A sender nobody asked for on this socket changes nothing.
        f.arp_reply(0, Ipv4Addr::new(10, 0, 0, 99), "02:00:00:00:00:99", t0);
        let got = drained(&mut f, t0 + Duration::from_millis(1));
        assert_eq!(got.iter().map(|(t, _)| *t).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(got[0].1.arp_mac.as_deref(), Some("02:00:00:00:00:02"));
        assert_eq!(got[0].1.rtt_us, Some(1000));
        f.arp_reply(0, Ipv4Addr::new(10, 0, 0, 3), "02:00:00:00:00:03", t0);
        f.arp_reply(1, target, "02:00:00:00:00:02", t0);
        assert_eq!(drained(&mut f, t0).len(), 2);
        assert!(f.is_done());
    }

    #[test]
    fn an_icmp_error_finishes_its_probe_unless_a_reply_came_first() {
        let t0 = Instant::now();
        let mut f = InFlight::new(t0 + Duration::from_secs(1), Duration::from_millis(100));
        f.echo_sent(1, 5, 0, t0, false);
        f.echo_sent(2, 5, 1, t0, true);
        f.echo_error(5, 0, "host unreachable", ip("10.0.0.1"));
        f.echo_reply(5, 1, t0);
        f.echo_error(5, 1, "host unreachable", ip("10.0.0.1"));
        f.echo_error(9, 9, "host unreachable", ip("10.0.0.1")); // not ours
        let got = drained(&mut f, t0 + Duration::from_millis(200));
        assert_eq!(
            got.iter()
                .map(|(t, o)| (*t, o.outcome.clone()))
                .collect::<Vec<_>>(),
            vec![
                (
                    1,
                    ProbeOutcome::Unreachable("host unreachable from 10.0.0.1".into())
                ),
                (2, ProbeOutcome::Reply),
            ]
        );
    }

    #[test]
    fn tcp_answers_are_timed_and_other_failures_are_not() {
        let t0 = Instant::now();
        let mut f = InFlight::new(t0 + Duration::from_secs(1), Duration::ZERO);
        f.tcp_started(1, 10, t0);
        f.tcp_started(2, 11, t0);
        f.tcp_started(3, 12, t0);
        f.tcp_done(10, ProbeOutcome::Reply, t0 + Duration::from_millis(2));
        f.tcp_done(11, ProbeOutcome::Refused, t0 + Duration::from_millis(3));
        f.tcp_done(12, ProbeOutcome::NoRoute, t0 + Duration::from_millis(4));
        f.tcp_done(12, ProbeOutcome::Reply, t0 + Duration::from_millis(5)); // already done
        let got = drained(&mut f, t0);
        assert_eq!(
            got.iter().map(|(t, o)| (*t, o.rtt_us)).collect::<Vec<_>>(),
            vec![(1, Some(2000)), (2, Some(3000)), (3, None)]
        );
        assert!(f.is_done());
    }
}
