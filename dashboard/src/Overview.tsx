// The supervisor's and agent's overview: today's KPIs, the hourly trend, the 30-minute funnel,
// the calls panel and the recent appointments, for all of the agent's clinics or one.

import { useState } from "react";
import { Area, AreaChart, Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { Metrics } from "./api";
import { AppointmentsTable } from "./AppointmentsTable";
import { formatShare, funnelPoints, hourlyPoints } from "./metrics";
import { REFRESH_MS, useClinics, useMetrics } from "./queries";
import { KPI_COLORS } from "./status";
import { browserZone, formatDuration } from "./time";
import { ClinicSelect, ErrorNote, Loading, Panel } from "./ui";

const KPIS = [
  { key: "created", label: "Scheduled", color: KPI_COLORS.scheduled },
  { key: "confirmed", label: "Confirmed", color: KPI_COLORS.confirmed },
  { key: "completed", label: "Completed", color: KPI_COLORS.completed },
  { key: "cancelled", label: "Cancelled", color: KPI_COLORS.cancelled },
] as const;

/** Legend and tooltip in the cards' order (Recharts sorts them by name by default). */
const kpiOrder = (item: { dataKey?: unknown }) => KPIS.findIndex((kpi) => kpi.key === item.dataKey);

export function Overview() {
  const clinics = useClinics();
  const [clinicId, setClinicId] = useState("");
  const clinic = clinics.data?.find((c) => c.id === clinicId);
  const zone = clinic?.timeZone ?? browserZone();
  const metrics = useMetrics(clinicId, zone);
  return (
    <>
      <div className="toolbar">
        <label>
          Clinic{" "}
          <ClinicSelect label="Clinic" clinics={clinics.data} value={clinicId} onChange={setClinicId} none="All my clinics" />
        </label>
        <span className="muted">Today in {zone}; refreshes every {REFRESH_MS / 1000} s</span>
      </div>
      {clinics.isError && <ErrorNote error={clinics.error} what="Loading the clinics" />}
      {metrics.isError && <ErrorNote error={metrics.error} what="Loading today's metrics" />}
      <div className="kpis">
        {KPIS.map((kpi) => (
          <div key={kpi.key} className="kpi" style={{ borderTopColor: kpi.color }} data-kpi={kpi.key}>
            <span className="kpi-label">{kpi.label}</span>
            <span className="kpi-value" style={{ color: kpi.color }}>
              {metrics.data ? metrics.data[kpi.key] : "—"}
            </span>
          </div>
        ))}
      </div>
      <div className="grid-2">
        <Panel title="Appointments today" className="chart-hourly">
          <MetricsChart metrics={metrics}>{(m) => <HourlyChart metrics={m} zone={zone} />}</MetricsChart>
        </Panel>
        <Panel title="30-minute funnel" className="chart-funnel">
          <MetricsChart metrics={metrics}>{(m) => <FunnelChart metrics={m} zone={zone} />}</MetricsChart>
        </Panel>
      </div>
      <CallsPanel metrics={metrics.data} zone={zone} />
      <AppointmentsTable clinicId={clinicId} />
    </>
  );
}

function MetricsChart({ metrics, children }: { metrics: ReturnType<typeof useMetrics>; children: (m: Metrics) => React.ReactNode }) {
  if (metrics.isPending) return <Loading what="metrics" />;
  if (!metrics.data) return <p className="state state-error">No data: see the error above.</p>;
  return <div className="chart">{children(metrics.data)}</div>;
}

function HourlyChart({ metrics, zone }: { metrics: Metrics; zone: string }) {
  const points = hourlyPoints(metrics.hourly, zone);
  return (
    <ResponsiveContainer width="100%" height="100%">
      <AreaChart data={points} margin={{ top: 8, right: 8, bottom: 0, left: -20 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e5e7eb" />
        <XAxis dataKey="label" tick={{ fontSize: 11 }} interval="preserveStartEnd" />
        <YAxis allowDecimals={false} tick={{ fontSize: 11 }} />
        <Tooltip />
        <Area type="monotone" dataKey="count" name="Booked" stroke={KPI_COLORS.scheduled} fill={KPI_COLORS.scheduled} fillOpacity={0.2} dot={{ r: 2 }} isAnimationActive={false} />
      </AreaChart>
    </ResponsiveContainer>
  );
}

function FunnelChart({ metrics, zone }: { metrics: Metrics; zone: string }) {
  const points = funnelPoints(metrics.funnel30m, zone, new Date());
  return (
    <ResponsiveContainer width="100%" height="100%">
      <BarChart data={points} margin={{ top: 8, right: 8, bottom: 0, left: -20 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e5e7eb" />
        <XAxis dataKey="label" tick={{ fontSize: 11 }} />
        <YAxis allowDecimals={false} tick={{ fontSize: 11 }} />
        <Tooltip itemSorter={kpiOrder} />
        <Legend wrapperStyle={{ fontSize: 12 }} itemSorter={kpiOrder} />
        {KPIS.map((kpi) => (
          <Bar key={kpi.key} dataKey={kpi.key} name={kpi.label} fill={kpi.color} isAnimationActive={false} />
        ))}
      </BarChart>
    </ResponsiveContainer>
  );
}

function CallsPanel({ metrics, zone }: { metrics: Metrics | undefined; zone: string }) {
  const calls = metrics?.calls;
  const stats = [
    { key: "inProgress", label: "Calls in progress", value: calls ? String(calls.inProgress) : "—" },
    {
      key: "averageHandle",
      label: "Average handle time",
      value: calls?.averageHandleSeconds != null ? formatDuration(calls.averageHandleSeconds) : "—",
    },
    { key: "conversion", label: "Calls that booked", value: calls ? formatShare(calls.bookedShare) : "—" },
    { key: "started", label: "Calls today", value: calls ? String(calls.started) : "—" },
  ];
  return (
    <Panel title="Calls" className="calls">
      <div className="calls-body">
        <dl className="stats">
          {stats.map((s) => (
            <div key={s.key} data-stat={s.key}>
              <dt>{s.label}</dt>
              <dd>{s.value}</dd>
            </div>
          ))}
        </dl>
        {calls && (
          <div className="chart chart-small">
            <ResponsiveContainer width="100%" height="100%">
              <BarChart data={hourlyPoints(calls.hourly, zone)} margin={{ top: 8, right: 8, bottom: 0, left: -20 }}>
                <XAxis dataKey="label" tick={{ fontSize: 11 }} interval="preserveStartEnd" />
                <YAxis allowDecimals={false} tick={{ fontSize: 11 }} />
                <Tooltip />
                <Bar dataKey="count" name="Calls" fill="#64748b" isAnimationActive={false} />
              </BarChart>
            </ResponsiveContainer>
          </div>
        )}
      </div>
    </Panel>
  );
}
