"""Where the clipper-ts server answers.

Clipper's container managers started and stopped Docker or Kubernetes containers from the client.
In clipper-ts the server runs model replicas itself (as local processes, or in Docker when it was
started with `--containers docker`), so these classes only hold the addresses of its query
frontend (port 1337) and management API (port 1338). They accept Clipper's keyword arguments so
that scripts move over unchanged; arguments that configure containers the client no longer runs
(redis_ip, redis_port, docker_network, use_centralized_log, fluentd_port, clipper_rpc_port,
prometheus_port, extra_container_kwargs, namespace, service_types, ...) are accepted and ignored.
"""

CONTAINERLESS_MODEL_IMAGE = 'NO_CONTAINER'
CLIPPER_INTERNAL_QUERY_PORT = 1337
CLIPPER_INTERNAL_MANAGEMENT_PORT = 1338


def _url(host, port):
    host = str(host)
    if ':' in host and not host.startswith('['):  # a bare IPv6 address
        host = '[%s]' % host
    return 'http://%s:%d' % (host, int(port))


class ContainerManager(object):
    """The server's addresses. `admin_url` / `query_url` (e.g. "http://10.0.0.5:1338") override
    host and ports when given."""

    def __init__(self, host='localhost', clipper_query_port=CLIPPER_INTERNAL_QUERY_PORT,
                 clipper_management_port=CLIPPER_INTERNAL_MANAGEMENT_PORT, cluster_name='default-cluster',
                 admin_url=None, query_url=None, **ignored):
        self.cluster_name = cluster_name
        self.host = host
        self.clipper_query_port = int(clipper_query_port)
        self.clipper_management_port = int(clipper_management_port)
        self.admin_url = (admin_url or _url(host, self.clipper_management_port)).rstrip('/')
        self.query_url = (query_url or _url(host, self.clipper_query_port)).rstrip('/')
        #: Keyword arguments accepted for Clipper compatibility and not used.
        self.ignored_kwargs = dict(ignored)

    def get_admin_addr(self):
        """host:port of the management API."""
        return self.admin_url.split('://', 1)[-1]

    def get_query_addr(self):
        """host:port of the query frontend."""
        return self.query_url.split('://', 1)[-1]

    def get_metric_addr(self):
        """host:port serving metrics: the query frontend (GET /metrics); there is no Prometheus."""
        return self.get_query_addr()

    def __repr__(self):
        return '%s(admin_url=%r, query_url=%r)' % (type(self).__name__, self.admin_url, self.query_url)


class LocalContainerManager(ContainerManager):
    """A server on this machine (default 127.0.0.1, ports 1337/1338)."""

    def __init__(self, host='127.0.0.1', clipper_query_port=CLIPPER_INTERNAL_QUERY_PORT,
                 clipper_management_port=CLIPPER_INTERNAL_MANAGEMENT_PORT, **kwargs):
        super().__init__(host=host, clipper_query_port=clipper_query_port,
                         clipper_management_port=clipper_management_port, **kwargs)


class DockerContainerManager(ContainerManager):
    """Clipper's DockerContainerManager arguments; the server is at `docker_ip_address`.

    Whether replicas run in Docker is the server's choice (`clipper start --containers docker`),
    or a deploy's (`pkgs_to_install`, or `manager='docker'` on the deployers)."""

    def __init__(self, cluster_name='default-cluster', docker_ip_address='localhost', use_centralized_log=False,
                 fluentd_port=24224, clipper_query_port=CLIPPER_INTERNAL_QUERY_PORT,
                 clipper_management_port=CLIPPER_INTERNAL_MANAGEMENT_PORT, clipper_rpc_port=7000, redis_ip=None,
                 redis_port=6379, prometheus_port=9090, docker_network='clipper_network',
                 extra_container_kwargs=None, **kwargs):
        super().__init__(host=docker_ip_address, clipper_query_port=clipper_query_port,
                         clipper_management_port=clipper_management_port, cluster_name=cluster_name, **kwargs)


class KubernetesContainerManager(ContainerManager):
    """Clipper's KubernetesContainerManager arguments. The server is at `host` (default localhost:
    e.g. through `kubectl port-forward`), or at admin_url/query_url; kubernetes_proxy_addr,
    namespace, service_types and the rest are ignored."""

    def __init__(self, cluster_name='default-cluster', kubernetes_proxy_addr=None, redis_ip=None, redis_port=6379,
                 useInternalIP=False, namespace='default', service_types=None,
                 create_namespace_if_not_exists=False, host='localhost',
                 clipper_query_port=CLIPPER_INTERNAL_QUERY_PORT,
                 clipper_management_port=CLIPPER_INTERNAL_MANAGEMENT_PORT, **kwargs):
        super().__init__(host=host, clipper_query_port=clipper_query_port,
                         clipper_management_port=clipper_management_port, cluster_name=cluster_name, **kwargs)
