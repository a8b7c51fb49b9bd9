export function ManagementPage(props: { kind: string }) { return <p>{props.kind}</p>; }
