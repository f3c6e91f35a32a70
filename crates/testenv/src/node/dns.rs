//! Cluster DNS for the node: CoreDNS as a cluster would run it (`kube-dns` Service at
//! [`DNS_SERVICE_IP`], the `kubernetes` plugin), so Service names such as
//! `source-controller.<ns>.svc.cluster.local.` resolve inside Pods. There is no upstream:
//! the machine's network is closed, and names outside the cluster fail fast.

use std::net::Ipv4Addr;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use serde_json::{Value, json};

use crate::Result;

/// The `kube-dns` Service's address, which the kubelet writes into Pods' resolv.conf.
pub(crate) const DNS_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);

/// CoreDNS listens above 1024 so that it needs no capability; the Service maps 53 to it.
const PORT: u16 = 1053;

/// The objects of the DNS add-on, in apply order.
pub(crate) fn objects(image: &str) -> Vec<Value> {
    let labels = json!({"k8s-app": "kube-dns"});
    let corefile = format!(
        ".:{PORT} {{\n    errors\n    health :8080\n    ready :8181\n    kubernetes cluster.local in-addr.arpa ip6.arpa {{\n        pods insecure\n        fallthrough in-addr.arpa ip6.arpa\n    }}\n    cache 30\n}}\n"
    );
    vec![
        json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "coredns", "namespace": "kube-system"},
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "system:coredns"},
            "rules": [
                {"apiGroups": [""], "resources": ["services", "pods", "namespaces"], "verbs": ["list", "watch"]},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:coredns"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}],
        }),
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "coredns", "namespace": "kube-system"},
            "data": {"Corefile": corefile},
        }),
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "coredns", "namespace": "kube-system", "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "coredns",
                        // Its own resolver is the node's: kube-dns cannot resolve for itself.
                        "dnsPolicy": "Default",
                        "containers": [{
                            "name": "coredns",
                            "image": image,
                            "imagePullPolicy": "Never",
                            "args": ["-conf", "/etc/coredns/Corefile"],
                            "ports": [
                                {"name": "dns", "containerPort": PORT, "protocol": "UDP"},
                                {"name": "dns-tcp", "containerPort": PORT, "protocol": "TCP"},
                            ],
                            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 1},
                            "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}},
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": true}],
                        }],
                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                    },
                },
            },
        }),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
            "spec": {
                "clusterIP": DNS_SERVICE_IP.to_string(),
                "selector": labels,
                "ports": [
                    {"name": "dns", "port": 53, "targetPort": PORT, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "targetPort": PORT, "protocol": "TCP"},
                ],
            },
        }),
    ]
}

/// Server-side applies the add-on.
pub(crate) async fn install(client: &kube::Client, image: &str) -> Result<()> {
    let params = PatchParams::apply("driftless-testenv").force();
    for object in objects(image) {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let kind = object["kind"].as_str().unwrap_or_default();
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
            Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        api.patch(name, &params, &Patch::Apply(&object)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_dns_maps_port_53_to_an_unprivileged_coredns() {
        let objects = objects("img");
        let service = objects.iter().find(|o| o["kind"] == "Service").unwrap();
        assert_eq!(service["spec"]["clusterIP"], "10.96.0.10");
        assert_eq!(service["spec"]["ports"][0]["port"], 53);
        assert_eq!(service["spec"]["ports"][0]["targetPort"], PORT);
        let config = objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap();
        let corefile = config["data"]["Corefile"].as_str().unwrap();
        assert!(corefile.starts_with(".:1053 {"), "{corefile}");
        assert!(corefile.contains("kubernetes cluster.local"), "{corefile}");
        let deployment = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "img");
        assert_eq!(container["ports"][0]["containerPort"], PORT);
    }
}
