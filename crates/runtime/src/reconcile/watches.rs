//! Watches: the reconciled kind's own, and what a reconciler declares beside it (sources,
//! ConfigMaps, Secrets). Every watch retries on the quick [`WatchBackoff`] and drops managed
//! fields, which are most of an object's size and never read.

use std::fmt::Debug;

use futures::{Stream, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use kube::api::PartialObjectMeta;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::manager::Context;
use crate::watch_backoff::WatchBackoff;

/// What a reconciler's watch declarations may use: the cache of reconciled objects (to map a
/// watched object to those that use it) and cached watches of other kinds in the namespaces
/// this controller watches.
pub struct Watches<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    ctx: Context,
    objects: Store<K>,
    controller: Option<Controller<K>>,
}

impl<K> Watches<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    pub(crate) fn new(ctx: Context, objects: Store<K>, controller: Controller<K>) -> Self {
        Self {
            ctx,
            objects,
            controller: Some(controller),
        }
    }

    /// The controller with every declared trigger.
    pub(crate) fn into_controller(self) -> Option<Controller<K>> {
        self.controller
    }

    /// Reconciles the objects `mapper` names whenever `changes` yields an object.
    pub fn trigger<Other, I>(
        &mut self,
        changes: impl Stream<Item = Result<Other, watcher::Error>> + Send + 'static,
        mapper: impl Fn(Other) -> I + Sync + Send + 'static,
    ) where
        Other: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
        I: 'static + IntoIterator<Item = ObjectRef<K>>,
        I::IntoIter: Send,
    {
        self.controller = self
            .controller
            .take()
            .map(|controller| controller.watches_stream(changes, mapper));
    }

    /// Reconciles each object `requests` names, as it names it.
    pub fn reconcile_on(&mut self, requests: impl Stream<Item = ObjectRef<K>> + Send + 'static) {
        self.controller = self
            .controller
            .take()
            .map(|controller| controller.reconcile_on(requests));
    }

    /// The cache of the reconciled objects.
    pub fn objects(&self) -> Store<K> {
        self.objects.clone()
    }

    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// A watch of `S` kept in a cache the reconciler can read; the stream yields the objects
    /// that changed.
    pub fn cached<S>(
        &self,
        config: watcher::Config,
    ) -> (
        Store<S>,
        impl Stream<Item = Result<S, watcher::Error>> + Send + use<K, S>,
    )
    where
        S: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Debug
            + Send
            + Sync
            + 'static,
    {
        let (store, writer) = reflector::store();
        let api = self
            .ctx
            .args
            .watched_api::<S>(self.ctx.client.clone(), &self.ctx.runtime_namespace);
        let stream = watcher(api, config)
            .backoff(WatchBackoff::default())
            .modify(|object| object.managed_fields_mut().clear())
            .reflect(writer)
            .applied_objects();
        (store, stream)
    }

    /// A metadata-only watch of `S` (labels and names, never the data of a Secret, say).
    pub fn metadata<S>(
        &self,
        config: watcher::Config,
    ) -> impl Stream<Item = Result<PartialObjectMeta<S>, watcher::Error>> + Send + use<K, S>
    where
        S: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Debug
            + Send
            + Sync
            + 'static,
    {
        let api = self.ctx.args.watched_api::<PartialObjectMeta<S>>(
            self.ctx.client.clone(),
            &self.ctx.runtime_namespace,
        );
        watcher(api, config)
            .backoff(WatchBackoff::default())
            .applied_objects()
    }
}

/// A cache of every `K` in the watched namespaces, kept until shutdown: for servers that
/// answer from objects (webhooks, events) on every replica, leader or not.
pub fn spawn_cache<K>(ctx: &Context) -> Store<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let api = ctx
        .args
        .watched_api::<K>(ctx.client.clone(), &ctx.runtime_namespace);
    let watch = watcher(api, ctx.args.watcher_config())
        .backoff(WatchBackoff::default())
        .modify(|object| object.managed_fields_mut().clear())
        .reflect(writer)
        .for_each(|_| futures::future::ready(()));
    let shutdown = ctx.shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = watch => {}
            () = shutdown.cancelled() => {}
        }
    });
    store
}
