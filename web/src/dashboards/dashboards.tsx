export function Dashboards(_: { id: string | undefined }) { return <p>Dashboards</p>; }
