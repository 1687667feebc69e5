//! The names enums print in text (strum's `IntoStaticStr`/`Display`) are the ones their JSON
//! uses (serde), variant by variant, so text and JSON cannot drift apart.

use netview::containers::Runtime;
use netview::inventory::filter::Hook;
use netview::inventory::model::NatOwner;
use netview::lab::spec::NetMode;
use netview::lab::{IpvlanMode, MacvlanMode};
use netview::netns::NetnsSource;
use netview::probe::{ProbeKind, ProbeOutcome};

fn json_word<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v).unwrap() {
        serde_json::Value::String(s) => s,
        // An enum with data serializes as {"variant": ...}: its key is the name.
        serde_json::Value::Object(m) => m.keys().next().unwrap().clone(),
        other => panic!("{other}"),
    }
}

#[test]
fn text_names_are_the_json_names() {
    for r in [Runtime::Docker, Runtime::Podman] {
        assert_eq!(r.as_str(), json_word(&r));
        assert_eq!(r.to_string(), json_word(&r));
    }
    for k in [ProbeKind::Icmp, ProbeKind::Arp, ProbeKind::Tcp] {
        assert_eq!(k.name(), json_word(&k));
    }
    for o in [
        ProbeOutcome::Reply,
        ProbeOutcome::NoArpReply,
        ProbeOutcome::Timeout,
        ProbeOutcome::NoRoute,
        ProbeOutcome::Refused,
        ProbeOutcome::Unreachable("x".into()),
        ProbeOutcome::SendFailed("x".into()),
    ] {
        assert_eq!(json_word(&o), format!("{o:?}").split('(').next().unwrap());
    }
    for m in [
        NetMode::Bridge,
        NetMode::Host,
        NetMode::None,
        NetMode::Macvlan(MacvlanMode::Bridge),
        NetMode::Ipvlan(IpvlanMode::L2),
    ] {
        assert_eq!(m.name(), json_word(&m));
    }
    for s in [NetnsSource::Root, NetnsSource::Named, NetnsSource::Process] {
        assert_eq!(s.word(), json_word(&s));
    }
    for o in [
        NatOwner::Docker,
        NatOwner::Netavark,
        NatOwner::Netview,
        NatOwner::Kubernetes,
        NatOwner::Other,
    ] {
        assert_eq!(o.as_str(), json_word(&o));
    }
    // Hook has no JSON; its words are nftables' hook names, and they read back.
    assert_eq!(
        [Hook::Forward, Hook::Input, Hook::Output].map(|h| h.as_str()),
        ["forward", "input", "output"]
    );
}
