/** Record shapes as the API answers them (the OpenAPI document types request bodies only). */
export type RecordKind = "leads" | "contacts";

export interface CrmRecord {
  id: string;
  name: string;
  email: string | null;
  phone: string | null;
  company: string | null;
  job_title?: string | null;
  source?: string | null;
  status?: string;
  lost_reason?: string | null;
  owner_id: string | null;
  tags: string[];
  category: string | null;
  score?: number | null;
  custom_fields: Record<string, unknown>;
  created_at: string;
  updated_at: string;
  version: number;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface TimelineItem {
  type: "change" | "note" | "automation_run";
  at: string;
  id: string;
  action?: string;
  field?: string | null;
  old?: unknown;
  new?: unknown;
  body?: string;
  author_id?: string;
  actor?: { type: string; id: string | null };
  automation_name?: string;
  event_type?: string;
}

export interface User {
  id: string;
  email: string;
  name: string;
  role: string;
  status: string;
}

export interface CustomFieldDefinition {
  id: string;
  entity: "lead" | "contact";
  key: string;
  label: string;
  type: "text" | "number" | "date" | "select" | "multi-select" | "bool";
  required: boolean;
  options: string[] | null;
}

export interface Tag {
  name: string;
  color: string | null;
}

export interface ListParams {
  q?: string;
  status?: string;
  tag?: string;
  owner_id?: string;
  sort: "created_at" | "updated_at" | "name" | "score";
  order: "asc" | "desc";
}

export const LEAD_STATUSES = ["new", "qualified", "converted", "lost"] as const;
