//! ImageRepository and ImagePolicy end to end: the real control plane, Debian's
//! `docker-registry` on loopback (plain, htpasswd + TLS), images pushed with `oci-client`, and
//! the image-automation-controller binary.

mod support;

mod automation;
mod automation_failures;
mod bad_input;
mod registry_access;
mod restart;
mod scan_and_select;
