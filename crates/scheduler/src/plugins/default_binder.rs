//! DefaultBinder: binds a pod through the `pods/binding` subresource.

use futures::FutureExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use kube::api::{Api, PostParams};

use crate::framework::{BindPlugin, Plugin, Status};
use crate::node_info::PodInfo;

/// The DefaultBinder plugin.
pub struct DefaultBinder;

impl DefaultBinder {
    /// The plugin's name.
    pub const NAME: &'static str = "DefaultBinder";
}

impl Plugin for DefaultBinder {
    fn name(&self) -> &'static str {
        Self::NAME
    }
}

impl BindPlugin for DefaultBinder {
    fn bind<'a>(
        &'a self,
        client: &'a kube::Client,
        pod: &'a PodInfo,
        node: &'a str,
    ) -> BoxFuture<'a, Status> {
        async move {
            let binding = Binding {
                metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                    name: Some(pod.name.clone()),
                    namespace: Some(pod.namespace.clone()),
                    uid: Some(pod.uid.clone()),
                    ..Default::default()
                },
                target: ObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Node".into()),
                    name: Some(node.to_string()),
                    ..Default::default()
                },
            };
            let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
            match api
                .create_subresource::<_, serde_json::Value>(
                    "binding",
                    &pod.name,
                    &PostParams::default(),
                    &binding,
                )
                .await
            {
                Ok(_) => Status::success(),
                Err(kube::Error::Api(s)) => Status::error(s.message),
                Err(e) => Status::error(e.to_string()),
            }
        }
        .boxed()
    }
}
