//! The guided tour: the study post section by section. Each step says what the post shows,
//! which containers build it, and which matrix cell holds the result the post is about.

use crate::lab::spec::{ContainerSpec, NetworkMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Bridge,
    Host,
    None,
    Macvlan,
    Ipvlan,
}

/// One step of the tour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub kind: StepKind,
    pub title: &'static str,
    /// What the post shows, two or three lines.
    pub text: [&'static str; 3],
    /// What to look at once the probes ran.
    pub look: &'static str,
    /// The matrix cell the post is about: (from, to).
    pub focus: (&'static str, &'static str),
}

pub const STEPS: [Step; 5] = [
    Step {
        kind: StepKind::Bridge,
        title: "1/5 bridge",
        text: [
            "Docker makes a virtual switch, docker0 (172.17.0.0/16), and plugs each container",
            "into it with a veth pair. A masquerade (NAT) rule lets containers reach outside:",
            "the router sees them as the host's LAN address.",
        ],
        look: "tour-br1 → router: reached, seen as 192.168.50.11 (NAT); tab 6 on nv-host shows the rule",
        focus: ("tour-br1", "router"),
    },
    Step {
        kind: StepKind::Host,
        title: "2/5 host",
        text: [
            "The container uses the host's own stack: no namespace, no NAT rule.",
            "Ports are shared: a listener on 80 in the container takes port 80 from the host.",
            "",
        ],
        look: "the shared-port check below: the host cannot bind the port the container holds",
        focus: ("tour-h1", "peer"),
    },
    Step {
        kind: StepKind::None,
        title: "3/5 none",
        text: [
            "Only lo inside the container: it can talk to nothing, and nothing to it.",
            "",
            "",
        ],
        look: "the tour-none1 row and column: ✗ everywhere",
        focus: ("tour-none1", "host"),
    },
    Step {
        kind: StepKind::Macvlan,
        title: "4/5 macvlan bridge",
        text: [
            "enp0s8 is split into children with their own MAC and IP on the LAN",
            "(subnet 192.168.50.0/24, ip-range 192.168.50.192/27, parent promisc on).",
            "A child reaches docker2 (the peer) but never its own host.",
        ],
        look: "tour-mv1 → peer ✓, tour-mv1 → host ✗ (expected: the parent never gets its children's frames)",
        focus: ("tour-mv1", "host"),
    },
    Step {
        kind: StepKind::Ipvlan,
        title: "5/5 ipvlan l2",
        text: [
            "Like macvlan, but every child answers ARP with the parent's MAC: one MAC",
            "on the switch port however many containers. A child reaches the peer.",
            "",
        ],
        look: "peer → tour-iv1 arp: answered by enp0s8's MAC",
        focus: ("peer", "tour-iv1"),
    },
];

/// The containers a step builds, as `lab::add_many` takes them.
pub fn containers(kind: StepKind) -> Vec<ContainerSpec> {
    match kind {
        StepKind::Bridge => vec![ContainerSpec::new("tour-br1", NetworkMode::Bridge)],
        StepKind::Host => vec![ContainerSpec::new("tour-h1", NetworkMode::Host)],
        StepKind::None => vec![ContainerSpec::new("tour-none1", NetworkMode::None)],
        StepKind::Macvlan => {
            let mut a = ContainerSpec::new("tour-mv1", NetworkMode::Macvlan);
            a.subnet = Some("192.168.50.0/24".parse().expect("cidr"));
            a.ip_range = Some("192.168.50.192/27".parse().expect("cidr"));
            a.promisc = true;
            let mut b = a.clone();
            b.name = "tour-mv2".into();
            vec![a, b]
        }
        StepKind::Ipvlan => {
            let mut a = ContainerSpec::new("tour-iv1", NetworkMode::Ipvlan);
            a.subnet = Some("192.168.50.0/24".parse().expect("cidr"));
            a.ip_range = Some("192.168.50.192/27".parse().expect("cidr"));
            vec![a]
        }
    }
}

/// Where the tour is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TourState {
    pub step: usize,
    /// This step's containers exist.
    pub built: bool,
    /// The probes ran since they were built.
    pub probed: bool,
    /// Why this step could not be built (ipvlan on this kernel), or what it showed.
    pub note: Option<String>,
}

impl TourState {
    pub fn new() -> Self {
        TourState {
            step: 0,
            built: false,
            probed: false,
            note: None,
        }
    }

    pub fn current(&self) -> &'static Step {
        &STEPS[self.step.min(STEPS.len() - 1)]
    }

    /// Go to the next step; false at the end.
    pub fn advance(&mut self) -> bool {
        if self.step + 1 >= STEPS.len() {
            return false;
        }
        self.step += 1;
        self.built = false;
        self.probed = false;
        self.note = None;
        true
    }
}

impl Default for TourState {
    fn default() -> Self {
        Self::new()
    }
}
