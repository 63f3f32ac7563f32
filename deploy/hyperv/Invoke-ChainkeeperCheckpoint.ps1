<#
.SYNOPSIS
    Chainkeeper's `checkpoint` hook on a Hyper-V host: takes, deletes or reverts a checkpoint as the agent's plan says,
    then exports the inventory again so the agent sees the result at once.

.DESCRIPTION
    Configure it in the agent (hooks.checkpoint), e.g.
        pwsh -File C:\chainkeeper\Invoke-ChainkeeperCheckpoint.ps1 -Exporter C:\chainkeeper\Export-ChainkeeperInventory.ps1
             -OutFile \\linux-agent\chainkeeper\hyperv.json -PathMap @{ 'C:\ClusterStorage\Volume1' = '/mnt/csv1' }
    The agent runs it with CHAINKEEPER_OPERATION (checkpoint-create, checkpoint-delete, checkpoint-revert),
    CHAINKEEPER_VM_ID, CHAINKEEPER_VM_NAME, CHAINKEEPER_CHECKPOINT, CHAINKEEPER_TARGET_VOLUME (the folder the
    coordinator's location rule allowed for the new files, as the agent sees it) and CHAINKEEPER_PLAN (a JSON file:
    operationId, vmId, vmName, epoch, action, checkpoint, memory, description, children, files).

    The agent may run it again for the same operation after a crash (CHAINKEEPER_MIGRATION_ID is the same): every step
    first checks whether it is already done. A non-zero exit fails the operation; its output goes to the agent's log.

    This script cannot run on the Linux machines Chainkeeper is developed on; AgentTests
    (HyperVExporterContractTests) check that every variable and plan field it reads is one the agent provides.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string] $Exporter,
    [Parameter(Mandatory = $true)] [string] $OutFile,
    [hashtable] $PathMap = @{}
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

# An agent path back to how Windows sees it: the longest matching -PathMap value replaced, slashes made backslashes.
function ConvertFrom-AgentPath([string] $Path) {
    if ([string]::IsNullOrEmpty($Path)) { return $null }
    $best = $null
    foreach ($prefix in $PathMap.Keys) {
        $agentPrefix = $PathMap[$prefix]
        if ($Path.StartsWith($agentPrefix) -and ($null -eq $best -or $agentPrefix.Length -gt $PathMap[$best].Length)) {
            $best = $prefix
        }
    }
    if ($null -eq $best) { return $Path.Replace('/', '\') }
    return $best + $Path.Substring($PathMap[$best].Length).Replace('/', '\')
}

$plan = Get-Content -LiteralPath $env:CHAINKEEPER_PLAN -Raw | ConvertFrom-Json
if ($plan.vmId -ne $env:CHAINKEEPER_VM_ID) { throw "the plan is for VM $($plan.vmId), not $env:CHAINKEEPER_VM_ID" }
$vm = Get-VM -Id $plan.vmId
$existing = @(Get-VMSnapshot -VM $vm)
# A checkpoint named by id (delete, revert) or by name (create).
$snapshot = $existing | Where-Object { $_.Id.ToString() -eq $plan.checkpoint -or $_.Name -eq $plan.checkpoint } |
    Select-Object -First 1

switch ($plan.action) {
    'create' {
        if ($null -eq $snapshot) {
            $location = ConvertFrom-AgentPath $env:CHAINKEEPER_TARGET_VOLUME
            if ($location -and $vm.SnapshotFileLocation -ne $location) {
                # Where the location rule allowed the new files; Hyper-V refuses this while checkpoints exist.
                Set-VM -VM $vm -SnapshotFileLocation $location
            }
            # Standard checkpoints save the memory; production ones are application-consistent, disks only.
            Set-VM -VM $vm -CheckpointType $(if ($plan.memory) { 'Standard' } else { 'ProductionOnly' })
            Checkpoint-VM -VM $vm -SnapshotName $plan.checkpoint
            if ($plan.description) {
                Get-VMSnapshot -VM $vm -Name $plan.checkpoint | Set-VMSnapshot -Notes $plan.description
            }
        }
    }
    'delete' {
        if ($null -ne $snapshot) {
            # Hyper-V merges the differencing disks itself; the export reports mergePending until it is done.
            Remove-VMCheckpoint -VMSnapshot $snapshot -IncludeAllChildCheckpoints:([bool] $plan.children) -Confirm:$false
        }
    }
    'revert' {
        if ($null -eq $snapshot) { throw "VM $($plan.vmName) has no checkpoint $($plan.checkpoint)" }
        if ($vm.ParentSnapshotId -ne $snapshot.Id) { Restore-VMCheckpoint -VMSnapshot $snapshot -Confirm:$false }
    }
    default { throw "unknown action '$($plan.action)' in $env:CHAINKEEPER_PLAN" }
}

& $Exporter -OutFile $OutFile -PathMap $PathMap
