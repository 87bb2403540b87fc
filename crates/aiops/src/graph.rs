//! M1: the dependency graph of one cluster.
//!
//! An edge `a → b` means "a depends on b": ingress → service (`routes_to`), service → pod
//! (`selects`), pod → node (`runs_on`), service → service (`calls`, from mesh traffic). Trouble
//! travels against the arrows: a node's memory pressure reaches its pods, then their services.
//! "Downstream" of an entity are its dependencies (forward edges), "upstream" its dependents.
//!
//! Nodes are kept sorted by (kind layer, key), so that indices, the topological order and every
//! tie-break are the same whatever order the caller listed entities in.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::entity::{EntityKind, EntityRef};
use crate::error::AiopsError;

/// Default depth of [`DependencyGraph::upstream`] and [`DependencyGraph::downstream`].
pub const DEFAULT_TRACE_DEPTH: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    RoutesTo,
    Selects,
    RunsOn,
    Calls,
}

impl EdgeKind {
    /// The kind of an edge from `from` to `to`, if such a dependency exists.
    pub fn between(from: EntityKind, to: EntityKind) -> Option<Self> {
        use EntityKind as K;
        match (from, to) {
            (K::Ingress, K::Service) => Some(Self::RoutesTo),
            (K::Service, K::Pod) => Some(Self::Selects),
            (K::Pod, K::Node) => Some(Self::RunsOn),
            (K::Service, K::Service) => Some(Self::Calls),
            _ => None,
        }
    }
}

/// One entity of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphNode {
    pub key: String,
    pub entity: EntityRef,
}

/// One dependency, by key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GraphEdge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
}

/// An entity reached by a traversal, with its distance in edges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reached {
    pub key: String,
    pub depth: usize,
}

/// Collects entities and edges, then builds the graph. Entities get a provisional index in
/// the order they are added; [`GraphBuilder::build`] says where each one ended up.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    /// Exactly as the caller spelt them, so repeated mentions skip formatting the key.
    by_ref: HashMap<EntityRef, u32>,
    by_key: HashMap<String, u32>,
    nodes: Vec<GraphNode>,
    edges: HashSet<(u32, u32)>,
}

impl GraphBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The provisional index of an entity already added.
    pub fn find(&self, entity: &EntityRef) -> Option<u32> {
        match self.by_ref.get(entity) {
            Some(&i) => Some(i),
            None => self.by_key.get(&entity.key().ok()?).copied(),
        }
    }

    /// Adds an entity (again is fine) and returns its provisional index.
    pub fn add_entity(&mut self, entity: &EntityRef) -> Result<u32, AiopsError> {
        if let Some(&i) = self.by_ref.get(entity) {
            return Ok(i);
        }
        let key = entity.key()?;
        let i = match self.by_key.get(&key) {
            Some(&i) => i,
            None => {
                let i = self.nodes.len() as u32;
                self.by_key.insert(key.clone(), i);
                self.nodes.push(GraphNode {
                    key,
                    entity: entity.clone(),
                });
                i
            }
        };
        self.by_ref.insert(entity.clone(), i);
        Ok(i)
    }

    /// The key of a provisional index.
    pub fn key(&self, index: u32) -> &str {
        &self.nodes[index as usize].key
    }

    pub fn entity(&self, index: u32) -> &EntityRef {
        &self.nodes[index as usize].entity
    }

    /// Adds `from → to`, adding both ends if they are new; returns their provisional indices.
    /// `cluster` only names the error.
    pub fn add_edge(
        &mut self,
        cluster: &str,
        from: &EntityRef,
        to: &EntityRef,
    ) -> Result<(u32, u32), AiopsError> {
        let f = self.add_entity(from)?;
        let t = self.add_entity(to)?;
        if EdgeKind::between(from.kind, to.kind).is_none() || f == t {
            return Err(AiopsError::InvalidEdge {
                cluster: cluster.to_owned(),
                from: self.key(f).to_owned(),
                to: self.key(t).to_owned(),
                from_kind: from.kind,
                to_kind: to.kind,
            });
        }
        self.edges.insert((f, t));
        Ok((f, t))
    }

    /// Adds an edge between two entities already added and already checked.
    pub(crate) fn link(&mut self, from: u32, to: u32) {
        self.edges.insert((from, to));
    }

    pub fn contains(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    /// The graph, and for each provisional index the final one.
    pub fn build(self) -> (DependencyGraph, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.nodes.len() as u32).collect();
        let rank = |i: &u32| {
            let n = &self.nodes[*i as usize];
            (n.entity.kind.layer(), n.key.as_str())
        };
        order.sort_unstable_by(|a, b| rank(a).cmp(&rank(b)));
        let mut final_index = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            final_index[old as usize] = new as u32;
        }
        let mut slots: Vec<Option<GraphNode>> = self.nodes.into_iter().map(Some).collect();
        let nodes: Vec<GraphNode> = order
            .iter()
            .map(|&old| slots[old as usize].take().expect("each index once"))
            .collect();
        let index: HashMap<String, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.key.clone(), i))
            .collect();
        let mut forward = vec![Vec::new(); nodes.len()];
        let mut reverse = vec![Vec::new(); nodes.len()];
        for &(from, to) in &self.edges {
            let (f, t) = (final_index[from as usize], final_index[to as usize]);
            forward[f as usize].push(t);
            reverse[t as usize].push(f);
        }
        for list in forward.iter_mut().chain(reverse.iter_mut()) {
            list.sort_unstable();
        }
        let order = dependency_first_order(&forward, &reverse);
        let graph = DependencyGraph {
            nodes,
            index,
            forward,
            reverse,
            order,
        };
        (graph, final_index)
    }
}

/// Kahn's algorithm over "depends on": an entity comes after all its dependencies. Ready
/// entities are taken lowest index first (layer, then key), so the order is deterministic.
/// Members of a `calls` cycle cannot all wait for each other: when nothing is ready, the lowest
/// remaining index goes next and the cycle is broken there.
fn dependency_first_order(forward: &[Vec<u32>], reverse: &[Vec<u32>]) -> Vec<u32> {
    let n = forward.len();
    let mut pending: Vec<usize> = forward.iter().map(Vec::len).collect();
    let mut done = vec![false; n];
    let mut ready: BinaryHeap<Reverse<u32>> = (0..n as u32)
        .filter(|&i| pending[i as usize] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(n);
    let mut next_unfinished = 0;
    while order.len() < n {
        let v = match ready.pop() {
            Some(Reverse(v)) if done[v as usize] => continue,
            Some(Reverse(v)) => v,
            None => {
                while done[next_unfinished] {
                    next_unfinished += 1;
                }
                next_unfinished as u32
            }
        };
        done[v as usize] = true;
        order.push(v);
        for &u in &reverse[v as usize] {
            let left = &mut pending[u as usize];
            *left = left.saturating_sub(1);
            if *left == 0 && !done[u as usize] {
                ready.push(Reverse(u));
            }
        }
    }
    order
}

/// The graph: nodes, forward and reverse adjacency, and a dependency-first order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(into = "GraphRepr", try_from = "GraphRepr")]
pub struct DependencyGraph {
    nodes: Vec<GraphNode>,
    index: HashMap<String, usize>,
    forward: Vec<Vec<u32>>,
    reverse: Vec<Vec<u32>>,
    order: Vec<u32>,
}

impl DependencyGraph {
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn nodes(&self) -> &[GraphNode] {
        &self.nodes
    }

    pub fn node(&self, index: usize) -> &GraphNode {
        &self.nodes[index]
    }

    pub fn index_of(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// What `index` depends on (forward edges).
    pub fn dependencies(&self, index: usize) -> &[u32] {
        &self.forward[index]
    }

    /// What depends on `index` (reverse edges).
    pub fn dependents(&self, index: usize) -> &[u32] {
        &self.reverse[index]
    }

    /// Every entity after all of its dependencies (cycles broken deterministically).
    pub fn dependency_first(&self) -> &[u32] {
        &self.order
    }

    /// All edges, sorted.
    pub fn edges(&self) -> Vec<GraphEdge> {
        let mut edges: Vec<GraphEdge> = self
            .forward
            .iter()
            .enumerate()
            .flat_map(|(from, tos)| {
                tos.iter().map(move |&to| GraphEdge {
                    from: self.nodes[from].key.clone(),
                    to: self.nodes[to as usize].key.clone(),
                    kind: EdgeKind::between(
                        self.nodes[from].entity.kind,
                        self.nodes[to as usize].entity.kind,
                    )
                    .expect("edges are checked when added"),
                })
            })
            .collect();
        edges.sort_unstable();
        edges
    }

    /// Entities `key` depends on, transitively, up to `max_depth` edges away (BFS).
    pub fn downstream(&self, key: &str, max_depth: usize) -> Vec<Reached> {
        self.traverse(key, max_depth, &self.forward)
    }

    /// Entities that depend on `key`, transitively, up to `max_depth` edges away (BFS).
    pub fn upstream(&self, key: &str, max_depth: usize) -> Vec<Reached> {
        self.traverse(key, max_depth, &self.reverse)
    }

    fn traverse(&self, key: &str, max_depth: usize, adjacency: &[Vec<u32>]) -> Vec<Reached> {
        let Some(start) = self.index_of(key) else {
            return Vec::new();
        };
        let mut seen = HashSet::from([start]);
        let mut queue = VecDeque::from([(start, 0)]);
        let mut reached = Vec::new();
        while let Some((v, depth)) = queue.pop_front() {
            if depth == max_depth {
                continue;
            }
            for &u in &adjacency[v] {
                let u = u as usize;
                if seen.insert(u) {
                    reached.push(Reached {
                        key: self.nodes[u].key.clone(),
                        depth: depth + 1,
                    });
                    queue.push_back((u, depth + 1));
                }
            }
        }
        reached
    }
}

/// The persisted form: entities and edges by key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GraphRepr {
    nodes: Vec<EntityRef>,
    edges: Vec<GraphEdge>,
}

impl From<DependencyGraph> for GraphRepr {
    fn from(graph: DependencyGraph) -> Self {
        Self {
            edges: graph.edges(),
            nodes: graph.nodes.into_iter().map(|n| n.entity).collect(),
        }
    }
}

impl TryFrom<GraphRepr> for DependencyGraph {
    type Error = AiopsError;

    fn try_from(repr: GraphRepr) -> Result<Self, AiopsError> {
        let mut builder = GraphBuilder::new();
        for entity in &repr.nodes {
            builder.add_entity(entity)?;
        }
        for edge in &repr.edges {
            let from = EntityRef::parse_key(&edge.from)?;
            let to = EntityRef::parse_key(&edge.to)?;
            builder.add_edge("restored", &from, &to)?;
        }
        Ok(builder.build().0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str) -> EntityRef {
        EntityRef::new(EntityKind::Service, "shop", name)
    }
    fn pod(name: &str) -> EntityRef {
        EntityRef::new(EntityKind::Pod, "shop", name)
    }
    fn ing(name: &str) -> EntityRef {
        EntityRef::new(EntityKind::Ingress, "shop", name)
    }

    /// ingress front → service web → pods web-1, web-2 → node n1; web calls api (→ pod api-1 →
    /// n2); api calls web (a cycle).
    fn sample() -> DependencyGraph {
        let mut b = GraphBuilder::new();
        let c = "c1";
        b.add_edge(c, &ing("front"), &svc("web")).unwrap();
        b.add_edge(c, &svc("web"), &pod("web-1")).unwrap();
        b.add_edge(c, &svc("web"), &pod("web-2")).unwrap();
        b.add_edge(c, &pod("web-1"), &EntityRef::node("n1")).unwrap();
        b.add_edge(c, &pod("web-2"), &EntityRef::node("n1")).unwrap();
        b.add_edge(c, &svc("web"), &svc("api")).unwrap();
        b.add_edge(c, &svc("api"), &pod("api-1")).unwrap();
        b.add_edge(c, &pod("api-1"), &EntityRef::node("n2")).unwrap();
        b.add_edge(c, &svc("api"), &svc("web")).unwrap();
        b.add_edge(c, &svc("web"), &pod("web-1")).unwrap();
        b.build().0
    }

    #[test]
    fn edges_are_typed_by_their_ends_and_deduplicated() {
        let g = sample();
        assert_eq!(g.len(), 8);
        let edges = g.edges();
        assert_eq!(edges.len(), 9);
        let kind = |from: &str, to: &str| {
            edges
                .iter()
                .find(|e| e.from == from && e.to == to)
                .map(|e| e.kind)
        };
        assert_eq!(
            kind("shop/ingress/front", "shop/service/web"),
            Some(EdgeKind::RoutesTo)
        );
        assert_eq!(
            kind("shop/service/web", "shop/pod/web-1"),
            Some(EdgeKind::Selects)
        );
        assert_eq!(kind("shop/pod/web-1", "_cluster/node/n1"), Some(EdgeKind::RunsOn));
        assert_eq!(
            kind("shop/service/web", "shop/service/api"),
            Some(EdgeKind::Calls)
        );
    }

    #[test]
    fn impossible_edges_are_rejected() {
        let mut b = GraphBuilder::new();
        assert!(matches!(
            b.add_edge("c1", &EntityRef::node("n1"), &pod("p")),
            Err(AiopsError::InvalidEdge { .. })
        ));
        assert!(b.add_edge("c1", &svc("a"), &svc("a")).is_err());
        assert!(b.add_edge("c1", &ing("i"), &pod("p")).is_err());
    }

    #[test]
    fn traversal_goes_both_ways_with_depth() {
        let g = sample();
        let down: Vec<(String, usize)> = g
            .downstream("shop/ingress/front", 2)
            .into_iter()
            .map(|r| (r.key, r.depth))
            .collect();
        assert_eq!(
            down,
            [
                ("shop/service/web".to_owned(), 1),
                ("shop/pod/web-1".to_owned(), 2),
                ("shop/pod/web-2".to_owned(), 2),
                ("shop/service/api".to_owned(), 2),
            ]
        );
        let up: Vec<String> = g
            .upstream("_cluster/node/n1", DEFAULT_TRACE_DEPTH)
            .into_iter()
            .map(|r| r.key)
            .collect();
        assert_eq!(
            up,
            [
                "shop/pod/web-1",
                "shop/pod/web-2",
                "shop/service/web",
                "shop/service/api",
                "shop/ingress/front"
            ]
        );
        assert!(g.upstream("nope/pod/x", 3).is_empty());
    }

    #[test]
    fn order_puts_dependencies_first_and_breaks_cycles() {
        let g = sample();
        let position: HashMap<&str, usize> = g
            .dependency_first()
            .iter()
            .enumerate()
            .map(|(pos, &i)| (g.node(i as usize).key.as_str(), pos))
            .collect();
        assert_eq!(position.len(), g.len());
        for edge in g.edges() {
            if edge.kind != EdgeKind::Calls {
                assert!(
                    position[edge.to.as_str()] < position[edge.from.as_str()],
                    "{edge:?}"
                );
            }
        }
        assert!(position["shop/service/web"] < position["shop/ingress/front"]);
    }

    #[test]
    fn order_is_independent_of_insertion_order() {
        let mut b = GraphBuilder::new();
        b.add_edge("c1", &svc("b"), &svc("a")).unwrap();
        b.add_edge("c1", &svc("c"), &svc("a")).unwrap();
        let mut b2 = GraphBuilder::new();
        b2.add_edge("c1", &svc("c"), &svc("a")).unwrap();
        b2.add_edge("c1", &svc("b"), &svc("a")).unwrap();
        assert_eq!(b.build().0.dependency_first(), b2.build().0.dependency_first());
    }

    #[test]
    fn serde_round_trip() {
        let g = sample();
        let json = serde_json::to_string(&g).unwrap();
        let back: DependencyGraph = serde_json::from_str(&json).unwrap();
        assert_eq!(back.nodes(), g.nodes());
        assert_eq!(back.edges(), g.edges());
        assert_eq!(back.dependency_first(), g.dependency_first());
        let bad = r#"{"nodes":[],"edges":[{"from":"_cluster/node/n","to":"a/pod/p","kind":"runs_on"}]}"#;
        assert!(serde_json::from_str::<DependencyGraph>(bad).is_err());
    }

    proptest::proptest! {
        /// Random layered graphs with random `calls`: the order is a permutation, and every
        /// non-`calls` edge has its dependency first.
        #[test]
        fn order_is_a_dependency_first_permutation(
            pods in proptest::collection::vec((0usize..4, 0usize..5), 1..30),
            calls in proptest::collection::vec((0usize..5, 0usize..5), 0..12),
        ) {
            let mut b = GraphBuilder::new();
            for (i, &(node, service)) in pods.iter().enumerate() {
                let p = pod(&format!("p{i}"));
                b.add_edge("c", &p, &EntityRef::node(format!("n{node}"))).unwrap();
                b.add_edge("c", &svc(&format!("s{service}")), &p).unwrap();
                b.add_edge("c", &ing(&format!("i{service}")), &svc(&format!("s{service}"))).unwrap();
            }
            for (from, to) in calls {
                let _ = b.add_edge("c", &svc(&format!("s{from}")), &svc(&format!("s{to}")));
            }
            let g = b.build().0;
            let mut seen: Vec<u32> = g.dependency_first().to_vec();
            seen.sort_unstable();
            proptest::prop_assert_eq!(seen, (0..g.len() as u32).collect::<Vec<_>>());
            let position: HashMap<&str, usize> = g
                .dependency_first()
                .iter()
                .enumerate()
                .map(|(pos, &i)| (g.node(i as usize).key.as_str(), pos))
                .collect();
            for edge in g.edges().iter().filter(|e| e.kind != EdgeKind::Calls) {
                // Only pod and node ends are certain: services may sit on a calls cycle.
                if matches!(edge.kind, EdgeKind::RunsOn) {
                    proptest::prop_assert!(position[edge.to.as_str()] < position[edge.from.as_str()]);
                }
            }
        }
    }
}
