//! `images:`: rewrites container image references (name, tag, digest).

use regex::Regex;

use crate::fieldspec::for_each_field;
use crate::resmap::ResMap;
use crate::types::{FieldSpec, Image};
use crate::{Error, Result};
use driftless_yaml::Node;

pub fn apply(resmap: &mut ResMap, image: &Image, specs: &[FieldSpec]) -> Result<()> {
    // kustomize inserts the name into the pattern as it is: a name is a regular expression.
    let Ok(pattern) = Regex::new(&format!(
        "^{}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$",
        image.name
    )) else {
        return Ok(());
    };
    for resource in resmap.iter_mut() {
        if resource.kind() == "CustomResourceDefinition" {
            continue;
        }
        // Any `containers`/`initContainers` list anywhere in the object.
        update_container_lists(&mut resource.node, &pattern, image);
        let mut error = None;
        for_each_field(resource, specs, None, &mut |node| {
            match node {
                Node::Scalar(scalar) => {
                    if let Some(updated) = updated_image(&scalar.value, &pattern, image) {
                        scalar.value = updated;
                    }
                }
                _ => {
                    error = Some(Error::new(
                        "wrong node kind for an image: expected a scalar",
                    ))
                }
            }
            Ok(())
        })?;
        if let Some(error) = error {
            return Err(error);
        }
    }
    Ok(())
}

fn update_container_lists(node: &mut Node, pattern: &Regex, image: &Image) {
    match node {
        Node::Map(map) => {
            for (key, value) in map.entries.iter_mut() {
                update_container_lists(value, pattern, image);
                if (key == "containers" || key == "initContainers")
                    && let Node::Seq(containers) = value
                {
                    for container in containers.iter_mut() {
                        if let Some(Node::Scalar(scalar)) = container.get_mut("image")
                            && let Some(updated) = updated_image(&scalar.value, pattern, image)
                        {
                            scalar.value = updated;
                        }
                    }
                }
            }
        }
        Node::Seq(items) => items
            .iter_mut()
            .for_each(|item| update_container_lists(item, pattern, image)),
        Node::Scalar(_) => {}
    }
}

fn updated_image(value: &str, pattern: &Regex, image: &Image) -> Option<String> {
    if !pattern.is_match(value) {
        return None;
    }
    let (mut name, mut tag, mut digest) = split(value);
    if !image.new_name.is_empty() {
        name = image.new_name.clone();
    }
    match (image.new_tag.is_empty(), image.digest.is_empty()) {
        (false, false) => {
            tag = image.new_tag.clone();
            digest = image.digest.clone();
        }
        (false, true) => {
            tag = image.new_tag.clone();
            digest.clear();
        }
        (true, false) => {
            tag.clear();
            digest = image.digest.clone();
        }
        (true, true) if !image.tag_suffix.is_empty() => {
            tag.push_str(&image.tag_suffix);
            digest.clear();
        }
        (true, true) => {}
    }
    let mut out = name;
    if !tag.is_empty() {
        out.push(':');
        out.push_str(&tag);
    }
    if !digest.is_empty() {
        out.push('@');
        out.push_str(&digest);
    }
    Some(out)
}

/// name, tag, digest — a registry's `:port` is part of the name.
pub fn split(image: &str) -> (String, String, String) {
    let offset = match image.find('/') {
        Some(slash) if slash > 0 => slash,
        _ => 0,
    };
    let search = &image[offset..];
    let at = search.find('@').map(|i| i + offset);
    let colon = search.find(':').map(|i| i + offset);
    match (at, colon) {
        (None, None) => (image.to_owned(), String::new(), String::new()),
        (Some(at), colon) if colon.is_none_or(|c| at < c) => (
            image[..at].to_owned(),
            String::new(),
            image[at + 1..].to_owned(),
        ),
        (Some(at), Some(colon)) => (
            image[..colon].to_owned(),
            image[colon + 1..at].to_owned(),
            image[at + 1..].to_owned(),
        ),
        (None, Some(colon)) => (
            image[..colon].to_owned(),
            image[colon + 1..].to_owned(),
            String::new(),
        ),
        (Some(_), None) => unreachable!("handled by the digest-only arm"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_registry_ports_in_the_name() {
        assert_eq!(split("nginx"), ("nginx".into(), "".into(), "".into()));
        assert_eq!(
            split("nginx:1.2"),
            ("nginx".into(), "1.2".into(), "".into())
        );
        assert_eq!(
            split("localhost:5000/app:v1"),
            ("localhost:5000/app".into(), "v1".into(), "".into())
        );
        assert_eq!(
            split("app@sha256:ab"),
            ("app".into(), "".into(), "sha256:ab".into())
        );
        assert_eq!(
            split("r:1/app:t@sha256:ab"),
            ("r:1/app".into(), "t".into(), "sha256:ab".into())
        );
    }

    #[test]
    fn new_tag_drops_digest_and_digest_drops_tag() {
        let pattern = |name: &str| {
            Regex::new(&format!(
                "^{name}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$"
            ))
            .unwrap()
        };
        let image = |new_name: &str, new_tag: &str, digest: &str| Image {
            name: "nginx".into(),
            new_name: new_name.into(),
            new_tag: new_tag.into(),
            digest: digest.into(),
            ..Default::default()
        };
        let p = pattern("nginx");
        assert_eq!(
            updated_image("nginx:1@sha256:x", &p, &image("", "2", "")).unwrap(),
            "nginx:2"
        );
        assert_eq!(
            updated_image("nginx:1", &p, &image("", "", "sha256:y")).unwrap(),
            "nginx@sha256:y"
        );
        assert_eq!(
            updated_image("nginx:1", &p, &image("reg/nginx", "", "")).unwrap(),
            "reg/nginx:1"
        );
        assert_eq!(
            updated_image("nginx", &p, &image("", "2", "sha256:y")).unwrap(),
            "nginx:2@sha256:y"
        );
        assert_eq!(updated_image("nginx-x:1", &p, &image("", "2", "")), None);
    }
}
