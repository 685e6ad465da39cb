/**
 * The public REST API as the UI calls it: the session's token (sessionStorage, so it ends with the
 * tab) as a Bearer header, the chosen tenant as the Tenant header, errors in the API's one shape.
 */

export const API = '/api/v1';

export interface Session {
  token: string;
  /** The token's public id: logging out revokes it. */
  tokenId: string;
  user: string;
  superuser: boolean;
  tenants: { tenant: string; role: Role }[];
  tenant: string;
}

export type Role = 'viewer' | 'operator' | 'admin';

const SESSION_KEY = 'weft.session';

export function loadSession(): Session | null {
  const text = sessionStorage.getItem(SESSION_KEY);
  if (!text) return null;
  try {
    return JSON.parse(text) as Session;
  } catch {
    return null;
  }
}

export function saveSession(session: Session | null): void {
  if (session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(SESSION_KEY);
}

/** An answer other than 2xx: the API's {code, message, details}, or what the status says. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** A route this server does not have (yet): the page says so instead of failing. */
  get missingRoute(): boolean {
    return this.status === 404 && this.message.startsWith('no route ');
  }
}

/** Called when the server refuses the token (expired, revoked): the app goes back to the login page. */
let onUnauthorized: () => void = () => {};
export const setUnauthorizedHandler = (handler: () => void) => {
  onUnauthorized = handler;
};

export function headersFor(session: Session | null): Record<string, string> {
  const headers: Record<string, string> = {};
  if (session) {
    headers.authorization = `Bearer ${session.token}`;
    headers.tenant = session.tenant;
  }
  return headers;
}

async function errorOf(response: Response): Promise<ApiError> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { code?: string; message?: string; details?: unknown };
    return new ApiError(
      response.status,
      body.code ?? 'error',
      body.message ?? response.statusText,
      body.details ?? null,
    );
  } catch {
    return new ApiError(response.status, 'error', text || response.statusText);
  }
}

export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  session: Session | null = loadSession(),
): Promise<T> {
  const headers = headersFor(session);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${API}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    const error = await errorOf(response);
    if (error.status === 401 && session) onUnauthorized();
    throw error;
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const get = <T>(path: string) => request<T>('GET', path);

/** A request whose body is not JSON (an uploaded file) or whose answer is not (an archive). */
async function raw(method: string, path: string, body?: { data: BodyInit; type: string }): Promise<Response> {
  const session = loadSession();
  const headers = headersFor(session);
  if (body) headers['content-type'] = body.type;
  const response = await fetch(`${API}${path}`, { method, headers, body: body?.data });
  if (!response.ok) {
    const error = await errorOf(response);
    if (error.status === 401 && session) onUnauthorized();
    throw error;
  }
  return response;
}

/** Sends a file as the body, as its content type says; the answer is JSON. */
export const upload = async <T>(method: string, path: string, data: BodyInit, type: string): Promise<T> =>
  (await (await raw(method, path, { data, type })).json()) as T;

export const getBytes = async (path: string): Promise<ArrayBuffer> => (await raw('GET', path)).arrayBuffer();

/** A query string from the given values, leaving out the empty ones. */
export function query(values: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values))
    if (value !== undefined && value !== '') params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}

export interface Page<T> {
  items: T[];
  total: number;
  offset?: number;
  size?: number;
}

export interface Execution {
  id: string;
  deploymentId: string;
  workflow: string;
  parameters: Record<string, unknown>;
  status: ExecutionStatus;
  error: ExecutionError | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  running: boolean;
}

export type ExecutionStatus =
  | 'pending'
  | 'started'
  | 'cancelling'
  | 'force_cancelling'
  | 'cancelled'
  | 'terminated'
  | 'failed'
  | 'interrupted';

export const ACTIVE_STATUSES: readonly ExecutionStatus[] = [
  'pending',
  'started',
  'cancelling',
  'force_cancelling',
];

export interface ExecutionError {
  message?: string;
  task?: unknown;
  causes?: unknown[];
  [key: string]: unknown;
}

export interface Task {
  id: number;
  kind: string;
  instanceId: string;
  node: string;
  operation: string | null;
  targetState: string | null;
  dependsOn: number[];
  ignoreFailure: boolean;
  state: string;
  attempt: number;
  error: unknown;
  updatedAt: string;
}

export type Level = 'debug' | 'info' | 'warning' | 'error';

export interface WeftEvent {
  seq: number;
  executionId: string | null;
  deploymentId: string | null;
  node: string | null;
  instanceId: string | null;
  operation: string | null;
  taskId: number | null;
  type: string;
  level: Level;
  message: string;
  data: unknown;
  timestamp: string;
}

export interface Deployment {
  id: string;
  blueprintId: string | null;
  status?: string;
  inputs?: Record<string, unknown>;
  createdAt: string;
  createdBy?: string | null;
  instanceStates?: Record<string, number>;
  lastExecution?: Pick<Execution, 'id' | 'workflow' | 'status' | 'createdAt' | 'endedAt'> | null;
  nodes?: { id: string; type: string; instances: number }[];
  workflows?: { name: string; parameters: Record<string, WorkflowParameter> }[];
}

/** A workflow's parameter as a deployment declares it. */
export interface WorkflowParameter {
  type?: string;
  default?: unknown;
  required: boolean;
  description?: string;
}

export interface RelationshipInstance {
  type: string;
  target?: string;
  targetId?: string;
}

export interface NodeInstance {
  id: string;
  deploymentId: string;
  node: string;
  index?: number;
  state: string;
  runtimeProperties?: Record<string, unknown>;
  containedIn?: string | null;
  hostId?: string | null;
  relationships?: RelationshipInstance[] | null;
}

/** A problem the API found in a blueprint or inputs, at its place. */
export interface Problem {
  code: string;
  file: string | null;
  line: number | null;
  column: number | null;
  path: string;
  message: string;
}

/** A declared input or workflow parameter, as a blueprint gives it. */
export interface BlueprintParameter {
  name: string;
  type: string | null;
  description: string | null;
  required: boolean;
  default?: unknown;
  constraints: { name: string; argument: unknown }[];
}

export interface BlueprintSummary {
  id: string;
  mainFile: string;
  description: string | null;
  createdAt: string;
  createdBy: string;
}

export interface Blueprint extends BlueprintSummary {
  dslVersion: string;
  inputs: BlueprintParameter[];
  nodes: {
    name: string;
    type: string;
    typeHierarchy: string[];
    containedIn?: string | null;
    relationships?: { type: string; target: string }[];
  }[];
  workflows: { name: string; parameters: BlueprintParameter[] }[];
  outputs: { name: string; description: string | null }[];
  capabilities: { name: string; description: string | null }[];
  plugins: string[];
  /** Only in the answer to an upload. */
  warnings?: Problem[];
}

export interface Me {
  name: string;
  superuser: boolean;
  tenants: { tenant: string; role: Role }[];
}
