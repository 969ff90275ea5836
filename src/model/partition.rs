//! Network partitions: which links between clients, balancers, services
//! and regions a `partition` fault cuts, and in which direction. The model
//! owns the rule (validation uses it to refuse a partition that cuts
//! nothing; the simulation uses it on every attempt while one is active).
//!
//! A link is one path an attempt takes: from its origin (a traffic
//! source's client, a calling service, or a balancer's own health checks)
//! through a balancer (or none) to a node of a service. A partition drops
//! the packets going from one side to the other: a request is cut when it
//! travels from a side the partition drops packets *from* to the side it
//! drops them *to*; a response is cut the other way round. So a one-way
//! cut loses the requests of links in one orientation and the responses of
//! links in the other.

use super::{Balancer, Service};

/// One side of a partition, as `from` / `to` name it.
#[derive(Debug, Clone, PartialEq)]
pub enum PartitionSide {
    /// The clients of a `[traffic.NAME]` source.
    Traffic(usize),
    /// A balancer: the hop from clients to it, and from it to its nodes
    /// (its health checks included).
    Balancer(usize),
    /// A service or a database (by index in `Scenario::services`).
    Service(usize),
    /// Every service and database whose `region` is this one.
    Region(String),
}

/// What an attempt across the cut meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionMode {
    /// Packets are dropped: the attempt hangs until its timeout (forever
    /// without one).
    BlackHole,
    /// The connection is refused or reset: the attempt fails at once with
    /// `reset`.
    Reset,
}

impl PartitionMode {
    pub fn name(self) -> &'static str {
        match self {
            PartitionMode::BlackHole => "black-hole",
            PartitionMode::Reset => "reset",
        }
    }
}

/// Which packets a partition drops: `from` → `to`, `to` → `from`, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionDirection {
    Both,
    /// Packets from `from` to `to`: requests `from` sends are lost, and so
    /// are the answers to requests `to` sends.
    Forward,
    /// Packets from `to` to `from`.
    Backward,
}

impl PartitionDirection {
    pub fn name(self) -> &'static str {
        match self {
            PartitionDirection::Both => "both",
            PartitionDirection::Forward => "forward",
            PartitionDirection::Backward => "backward",
        }
    }
}

/// Who sends the attempts of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOrigin {
    /// The clients of a traffic source.
    Traffic(usize),
    /// A service's nodes calling another service.
    Service(usize),
    /// A balancer checking its nodes' health.
    Balancer(usize),
}

/// One path attempts take: from `origin`, through `balancer` (`None`:
/// straight to the service), to a node of `service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub origin: LinkOrigin,
    pub balancer: Option<usize>,
    pub service: usize,
}

/// The scenario's parts a side's membership depends on.
#[derive(Clone, Copy)]
pub struct Topology<'a> {
    pub services: &'a [Service],
    pub balancers: &'a [Balancer],
}

impl PartitionSide {
    /// The side in words, e.g. "service payments", "region east".
    pub fn describe(&self, scenario: &super::Scenario) -> String {
        match self {
            PartitionSide::Traffic(t) => format!("traffic {}", scenario.traffic[*t].name),
            PartitionSide::Balancer(b) => format!("balancer {}", scenario.balancers[*b].name),
            PartitionSide::Service(s) => {
                let kind = if scenario.services[*s].database.is_some() { "database" } else { "service" };
                format!("{kind} {}", scenario.services[*s].name)
            }
            PartitionSide::Region(r) => format!("region {r}"),
        }
    }

    /// Whether the link's sending end is on this side: its origin, or the
    /// balancer that forwards its attempts.
    pub fn holds_origin(&self, link: &Link, t: Topology) -> bool {
        match (self, link.origin) {
            (PartitionSide::Balancer(b), _) => link.balancer == Some(*b),
            (PartitionSide::Traffic(s), LinkOrigin::Traffic(o)) => *s == o,
            (PartitionSide::Service(s), LinkOrigin::Service(o)) => *s == o,
            (PartitionSide::Region(r), LinkOrigin::Service(o)) => t.services[o].region == *r,
            // A balancer runs in the region of the service it fronts.
            (PartitionSide::Region(r), LinkOrigin::Balancer(b)) => t.services[t.balancers[b].service].region == *r,
            _ => false,
        }
    }

    /// Whether the link's receiving end is on this side: the service, or
    /// the balancer the origin sends to (a balancer's own checks start at
    /// the balancer, so they do not reach it).
    pub fn holds_destination(&self, link: &Link, t: Topology) -> bool {
        match self {
            PartitionSide::Service(s) => link.service == *s,
            PartitionSide::Balancer(b) => link.balancer == Some(*b) && !matches!(link.origin, LinkOrigin::Balancer(_)),
            PartitionSide::Region(r) => t.services[link.service].region == *r,
            PartitionSide::Traffic(_) => false,
        }
    }
}

/// Whether a partition between `from` and `to` dropping packets in
/// `direction` cuts the link's requests (`request`) or its responses.
pub fn cuts(
    from: &PartitionSide,
    to: &PartitionSide,
    direction: PartitionDirection,
    link: &Link,
    request: bool,
    t: Topology,
) -> bool {
    // Packets go from `a` to `b`: a request from the origin end to the
    // destination end, a response back.
    let drops = |a: &PartitionSide, b: &PartitionSide| {
        if request {
            a.holds_origin(link, t) && b.holds_destination(link, t)
        } else {
            a.holds_destination(link, t) && b.holds_origin(link, t)
        }
    };
    match direction {
        PartitionDirection::Forward => drops(from, to),
        PartitionDirection::Backward => drops(to, from),
        PartitionDirection::Both => drops(from, to) || drops(to, from),
    }
}

/// Every link of the scenario: each source to its target (and to the
/// standby of an active/active disaster recovery), each call, and each
/// health-checking balancer to its nodes.
pub fn links(scenario: &super::Scenario) -> Vec<Link> {
    use super::Target;
    let via = |target: Target| match target {
        Target::Balancer(b) => (Some(b), scenario.balancers[b].service),
        Target::Service(s) => (None, s),
    };
    let mut out = Vec::new();
    for (i, t) in scenario.traffic.iter().enumerate() {
        let (balancer, service) = via(t.target);
        out.push(Link { origin: LinkOrigin::Traffic(i), balancer, service });
        if let Some(dr) = &scenario.disaster_recovery {
            let standby = scenario.balancers[dr.standby].service;
            out.push(Link { origin: LinkOrigin::Traffic(i), balancer: Some(dr.standby), service: standby });
        }
    }
    for (s, service) in scenario.services.iter().enumerate() {
        for call in service.calls.iter().flat_map(|step| &step.calls) {
            let (balancer, callee) = via(call.target);
            out.push(Link { origin: LinkOrigin::Service(s), balancer, service: callee });
        }
    }
    for (b, balancer) in scenario.balancers.iter().enumerate() {
        if balancer.health_check.is_some() {
            out.push(Link { origin: LinkOrigin::Balancer(b), balancer: Some(b), service: balancer.service });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Scenario;

    fn scenario() -> Scenario {
        let text = r#"
            version = 1
            [simulation]
            duration = "10s"
            [traffic.users]
            rate = 10
            target = "lb"
            [balancers.lb]
            service = "web"
            health_check = {}
            [services.web]
            region = "east"
            service_time = { distribution = "constant", value = "1ms" }
            calls = [{ target = "pay" }]
            [services.pay]
            region = "west"
            service_time = { distribution = "constant", value = "1ms" }
        "#;
        Scenario::from_toml(text, "t.toml", None).expect("valid")
    }

    #[test]
    fn one_way_cuts_requests_one_way_and_responses_the_other() {
        let s = scenario();
        let t = Topology { services: &s.services, balancers: &s.balancers };
        let (web, pay) = (s.service_index("web").unwrap(), s.service_index("pay").unwrap());
        let call = Link { origin: LinkOrigin::Service(web), balancer: None, service: pay };
        let (from, to) = (PartitionSide::Service(web), PartitionSide::Service(pay));
        // web → pay dropped: web's requests are lost, pay's answers get through.
        assert!(cuts(&from, &to, PartitionDirection::Forward, &call, true, t));
        assert!(!cuts(&from, &to, PartitionDirection::Forward, &call, false, t));
        // pay → web dropped: the answers are lost.
        assert!(!cuts(&from, &to, PartitionDirection::Backward, &call, true, t));
        assert!(cuts(&from, &to, PartitionDirection::Backward, &call, false, t));
        // Named the other way round, the same one-way cut.
        assert!(cuts(&to, &from, PartitionDirection::Forward, &call, false, t));
        let regions = (PartitionSide::Region("east".into()), PartitionSide::Region("west".into()));
        assert!(cuts(&regions.0, &regions.1, PartitionDirection::Both, &call, true, t));
    }

    #[test]
    fn a_balancer_side_cuts_its_clients_or_its_checks() {
        let s = scenario();
        let t = Topology { services: &s.services, balancers: &s.balancers };
        let web = s.service_index("web").unwrap();
        let client = Link { origin: LinkOrigin::Traffic(0), balancer: Some(0), service: web };
        let checks = Link { origin: LinkOrigin::Balancer(0), balancer: Some(0), service: web };
        let users_lb = (PartitionSide::Traffic(0), PartitionSide::Balancer(0));
        assert!(cuts(&users_lb.0, &users_lb.1, PartitionDirection::Both, &client, true, t));
        assert!(!cuts(&users_lb.0, &users_lb.1, PartitionDirection::Both, &checks, true, t));
        let lb_web = (PartitionSide::Balancer(0), PartitionSide::Service(web));
        assert!(cuts(&lb_web.0, &lb_web.1, PartitionDirection::Both, &client, true, t));
        assert!(cuts(&lb_web.0, &lb_web.1, PartitionDirection::Both, &checks, false, t));
        // Regions: the clients belong to none, the checks stay in one.
        let regions = (PartitionSide::Region("east".into()), PartitionSide::Region("west".into()));
        assert!(!cuts(&regions.0, &regions.1, PartitionDirection::Both, &client, true, t));
        assert!(!cuts(&regions.0, &regions.1, PartitionDirection::Both, &checks, true, t));
        assert_eq!(links(&s).len(), 3);
    }
}
