// Small shared pieces: banners, the status chip, and the loading / empty / error states every
// panel uses, so each screen says the same thing the same way.

import type { ReactNode } from "react";
import { ApiError, type Clinic } from "./api";
import { chipFor } from "./status";

export function Banner({ kind, children }: { kind: "error" | "info"; children: ReactNode }) {
  return (
    <div className={`banner banner-${kind}`} role={kind === "error" ? "alert" : "status"}>
      {children}
    </div>
  );
}

export function StatusChip({ status }: { status: string }) {
  const chip = chipFor(status);
  return (
    <span className="chip" style={{ background: chip.color }} data-status={status}>
      {chip.label}
    </span>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="state state-loading" aria-busy="true">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="state state-empty">{children}</p>;
}

/** A failed request in words: the problem's title and detail, and any field messages. */
export function ErrorNote({ error, what }: { error: unknown; what: string }) {
  const fields = error instanceof ApiError ? error.errors : [];
  return (
    <div className="state state-error" role="alert">
      <strong>{what} failed.</strong> {error instanceof Error ? error.message : String(error)}
      {fields.length > 0 && (
        <ul>
          {fields.map((f) => (
            <li key={f.field}>
              {f.field}: {f.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** A choice of clinic; "" is the first option (`none`: "all" or "choose…"). */
export function ClinicSelect(props: {
  label: string;
  clinics: Clinic[] | undefined;
  value: string;
  onChange: (clinicId: string) => void;
  none: string;
  withZone?: boolean;
  required?: boolean;
}) {
  return (
    <select aria-label={props.label} value={props.value} onChange={(e) => props.onChange(e.target.value)} required={props.required}>
      <option value="">{props.none}</option>
      {props.clinics?.map((c) => (
        <option key={c.id} value={c.id}>
          {props.withZone ? `${c.name} (${c.timeZone})` : c.name}
        </option>
      ))}
    </select>
  );
}

/** The card around every panel. */
export function Panel({ title, actions, children, className }: { title: string; actions?: ReactNode; children: ReactNode; className?: string }) {
  return (
    <section className={`card ${className ?? ""}`} aria-label={title}>
      <header className="card-header">
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}
