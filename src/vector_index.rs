//! TEMPORARY naive stand-in until the real vector index lands (same API).
use std::sync::Arc;
use imbl::OrdMap;
use serde::{Deserialize, Serialize};
use crate::error::{Error, Result};
use crate::value::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Metric { Cosine, Euclidean, DotProduct }
impl Metric {
    pub fn parse(s: &str) -> Result<Metric> {
        match s { "cosine" => Ok(Metric::Cosine), "euclidean" => Ok(Metric::Euclidean), "dot_product" | "dotproduct" => Ok(Metric::DotProduct),
            other => Err(Error::validation(format!("metric {other:?} is not one of \"cosine\", \"euclidean\", \"dot_product\""))) }
    }
    pub fn as_str(self) -> &'static str { match self { Metric::Cosine => "cosine", Metric::Euclidean => "euclidean", Metric::DotProduct => "dot_product" } }
}
#[derive(Clone, Debug)]
pub struct VectorIndex { dimension: usize, metric: Metric, rows: OrdMap<Arc<str>, (Arc<[f32]>, Option<Value>)> }
#[derive(Clone, Debug)]
pub struct SearchHit { pub key: String, pub score: f32, pub metadata: Option<Value> }
impl VectorIndex {
    pub fn new(dimension: usize, metric: Metric) -> Self { VectorIndex { dimension, metric, rows: OrdMap::new() } }
    pub fn dimension(&self) -> usize { self.dimension }
    pub fn metric(&self) -> Metric { self.metric }
    pub fn len(&self) -> usize { self.rows.len() }
    pub fn is_empty(&self) -> bool { self.rows.is_empty() }
    pub fn upsert(&mut self, key: &str, embedding: &[f32], metadata: Option<Value>) { self.rows.insert(Arc::from(key), (Arc::from(embedding), metadata)); }
    pub fn remove(&mut self, key: &str) -> bool { self.rows.remove(key).is_some() }
    pub fn get(&self, key: &str) -> Option<(&[f32], Option<&Value>)> { self.rows.get(key).map(|(e, m)| (&e[..], m.as_ref())) }
    pub fn memory_bytes(&self) -> usize { self.rows.len() * (self.dimension * 4 + 64) }
    pub fn search(&self, query: &[f32], k: usize, filter: Option<&Filter>) -> Vec<SearchHit> { self.search_with_metric(query, k, filter, self.metric) }
    pub fn search_with_metric(&self, query: &[f32], k: usize, filter: Option<&Filter>, metric: Metric) -> Vec<SearchHit> {
        let mut hits: Vec<SearchHit> = self.rows.iter().filter(|(_, (_, m))| filter.is_none_or(|f| f.matches(m.as_ref()))).map(|(key, (e, m))| {
            let dot: f32 = e.iter().zip(query).map(|(a, b)| a * b).sum();
            let score = match metric {
                Metric::DotProduct => dot,
                Metric::Cosine => { let n = e.iter().map(|x| x * x).sum::<f32>().sqrt() * query.iter().map(|x| x * x).sum::<f32>().sqrt(); if n == 0.0 { 0.0 } else { dot / n } }
                Metric::Euclidean => 1.0 / (1.0 + e.iter().zip(query).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt()),
            };
            SearchHit { key: key.to_string(), score, metadata: m.clone() }
        }).collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.key.cmp(&b.key)));
        hits.truncate(k);
        hits
    }
}
pub fn check_embedding(collection: &str, dimension: usize, embedding: &[f32]) -> Result<()> {
    if embedding.len() != dimension { return Err(Error::constraint(format!("collection '{collection}' has dimension {dimension}, got {}", embedding.len()))); }
    if let Some(i) = embedding.iter().position(|x| !x.is_finite()) { return Err(Error::validation(format!("embedding element {i} is not finite"))); }
    Ok(())
}
#[derive(Clone, Debug)]
pub struct Filter { conditions: Vec<(String, Op, Value)> }
#[derive(Clone, Copy, Debug)]
enum Op { Eq, Ne, Gt, Gte, Lt, Lte, In, Contains }
impl Filter {
    pub fn new(conditions: Vec<(String, String, Value)>) -> Result<Filter> {
        let mut parsed = Vec::new();
        for (field, op, value) in conditions {
            let op = match op.as_str() { "eq" => Op::Eq, "ne" => Op::Ne, "gt" => Op::Gt, "gte" => Op::Gte, "lt" => Op::Lt, "lte" => Op::Lte, "in" => Op::In, "contains" => Op::Contains,
                other => return Err(Error::validation(format!("filter op {other:?} is not one of eq, ne, gt, gte, lt, lte, in, contains"))) };
            if matches!(op, Op::In) && !matches!(value, Value::Array(_)) { return Err(Error::validation(format!("filter op 'in' on field {field:?} needs a list value"))); }
            parsed.push((field, op, value));
        }
        Ok(Filter { conditions: parsed })
    }
    pub fn matches(&self, metadata: Option<&Value>) -> bool {
        let object = match metadata { Some(Value::Object(m)) => Some(m), _ => None };
        self.conditions.iter().all(|(field, op, want)| {
            let found = object.and_then(|m| m.get(field.as_str()));
            let Some(found) = found else { return matches!(op, Op::Ne) };
            match op {
                Op::Eq => found.loosely_equals(want),
                Op::Ne => !found.loosely_equals(want),
                Op::Gt => found.compare(want) == Some(std::cmp::Ordering::Greater),
                Op::Gte => matches!(found.compare(want), Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)),
                Op::Lt => found.compare(want) == Some(std::cmp::Ordering::Less),
                Op::Lte => matches!(found.compare(want), Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)),
                Op::In => matches!(want, Value::Array(items) if items.iter().any(|item| found.loosely_equals(item))),
                Op::Contains => match (found, want) {
                    (Value::String(text), Value::String(part)) => text.contains(part.as_str()),
                    (Value::Array(items), _) => items.iter().any(|item| item.loosely_equals(want)),
                    _ => false,
                },
            }
        })
    }
}
