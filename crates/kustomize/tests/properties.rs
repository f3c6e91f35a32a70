//! Property tests: strategic merge patches round-trip through `diff`, and name references
//! always point at the names the build gives.

use std::path::Path;

use driftless_kustomize::fs::MemFs;
use driftless_kustomize::openapi::Schemas;
use driftless_kustomize::transform::smp;
use driftless_kustomize::{BuildOptions, build_yaml};
use driftless_yaml::{Mapping, Node};
use proptest::prelude::*;

/// Maps over a fixed key universe where every key always has the same shape, so that any
/// two of them can be merged (a patch cannot change a field's kind).
fn value_for(key: &str, depth: u32) -> BoxedStrategy<Node> {
    match key.as_bytes()[0] {
        b's' => "[a-z0-9 ]{0,6}".prop_map(Node::string).boxed(),
        b'i' => (0i64..1000)
            .prop_map(|n| Node::plain(n.to_string()))
            .boxed(),
        b'l' => prop::collection::vec("[a-z]{1,3}".prop_map(Node::string), 0..4)
            .prop_map(Node::Seq)
            .boxed(),
        _ if depth == 0 => Just(Node::map()).boxed(),
        _ => map_strategy(depth - 1).prop_map(Node::Map).boxed(),
    }
}

fn map_strategy(depth: u32) -> BoxedStrategy<Mapping> {
    let keys = ["s1", "s2", "i1", "i2", "l1", "m1", "m2"];
    prop::collection::vec(prop::sample::select(keys.to_vec()), 0..6)
        .prop_flat_map(move |mut chosen| {
            chosen.sort_unstable();
            chosen.dedup();
            let values: Vec<BoxedStrategy<(String, Node)>> = chosen
                .into_iter()
                .map(|k| {
                    value_for(k, depth)
                        .prop_map(move |v| (k.to_owned(), v))
                        .boxed()
                })
                .collect();
            values.prop_map(|entries| Mapping { entries })
        })
        .boxed()
}

fn object(spec: Mapping) -> Node {
    let mut map = Mapping::new();
    map.insert("apiVersion", Node::string("example.com/v1"));
    map.insert("kind", Node::string("Widget"));
    let mut metadata = Mapping::new();
    metadata.insert("name", Node::string("w"));
    map.insert("metadata", Node::Map(metadata));
    map.insert("spec", Node::Map(spec));
    Node::Map(map)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// merge(A, diff(A, B)) == B, and merging the same patch twice changes nothing more.
    #[test]
    fn patch_from_diff_turns_original_into_modified(a in map_strategy(2), b in map_strategy(2)) {
        let (original, modified) = (object(a), object(b));
        let patch = Node::Map(smp::diff(original.as_map().unwrap(), modified.as_map().unwrap()));
        let schemas = Schemas::builtin();
        let merged = smp::merge(&original, &patch, &schemas).unwrap().unwrap();
        prop_assert_eq!(merged.to_json(), modified.to_json());
        let again = smp::merge(&merged, &patch, &schemas).unwrap().unwrap();
        prop_assert_eq!(again.to_json(), merged.to_json());
    }

    /// Fields a patch does not mention are kept; fields it sets take its value.
    #[test]
    fn untouched_fields_survive_a_patch(a in map_strategy(2), b in map_strategy(1)) {
        let original = object(a.clone());
        let patch = object(b.clone());
        let merged = smp::merge(&original, &patch, &Schemas::builtin()).unwrap().unwrap();
        let spec = merged.get("spec").unwrap().as_map().unwrap();
        for (key, value) in a.iter() {
            if !b.contains_key(key) {
                prop_assert_eq!(spec.get(key), Some(value));
            }
        }
        for (key, value) in b.iter() {
            if !matches!(value, Node::Map(_)) {
                prop_assert_eq!(spec.get(key).map(Node::to_json), Some(value.to_json()));
            }
        }
    }

    /// Whatever the names, prefix and suffix, every reference to a generated ConfigMap
    /// ends up naming the ConfigMap the build emits.
    #[test]
    fn references_follow_renamed_config_maps(
        names in prop::collection::btree_set("[a-z][a-z0-9]{0,8}", 1..5),
        prefix in "[a-z]{0,4}",
        suffix in "[a-z]{0,4}",
    ) {
        let names: Vec<String> = names.into_iter().collect();
        let mut kustomization = String::from("resources: [deploy.yaml]\n");
        if !prefix.is_empty() {
            kustomization.push_str(&format!("namePrefix: {prefix}-\n"));
        }
        if !suffix.is_empty() {
            kustomization.push_str(&format!("nameSuffix: -{suffix}\n"));
        }
        kustomization.push_str("configMapGenerator:\n");
        let mut volumes = String::new();
        for (i, name) in names.iter().enumerate() {
            kustomization.push_str(&format!("- name: {name}\n  literals: [K{i}=v{i}]\n"));
            volumes.push_str(&format!("      - name: v{i}\n        configMap:\n          name: {name}\n"));
        }
        let deployment = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: i\n      volumes:\n{volumes}"
        );
        let mut fs = MemFs::new();
        fs.add_file("/k/kustomization.yaml", kustomization.into_bytes());
        fs.add_file("/k/deploy.yaml", deployment.into_bytes());
        let text = build_yaml(&fs, Path::new("/k"), &BuildOptions::default()).unwrap();
        let docs = driftless_yaml::parse_documents(&text).unwrap();
        let emitted: Vec<&str> = docs.iter().filter(|d| d.str_at(&["kind"]) == Some("ConfigMap")).map(|d| d.str_at(&["metadata", "name"]).unwrap()).collect();
        let deployment = docs.iter().find(|d| d.str_at(&["kind"]) == Some("Deployment")).unwrap();
        let volumes = deployment.get_path(&["spec", "template", "spec", "volumes"]).unwrap().as_seq().unwrap();
        prop_assert_eq!(volumes.len(), names.len());
        for volume in volumes {
            let referenced = volume.str_at(&["configMap", "name"]).unwrap();
            prop_assert!(emitted.contains(&referenced), "{} not among {:?}", referenced, emitted);
        }
    }
}
