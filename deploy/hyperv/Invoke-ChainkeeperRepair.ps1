<#
.SYNOPSIS
    Chainkeeper's `repair` hook on a Hyper-V host: moves a stranded VM's storage to the folder the coordinator planned
    on a shared volume (Move-VMStorage, the VM keeps running), then exports the inventory again so the agent sees the
    result at once.

.DESCRIPTION
    Configure it in the agent (hooks.repair), e.g.
        pwsh -File C:\chainkeeper\Invoke-ChainkeeperRepair.ps1 -Exporter C:\chainkeeper\Export-ChainkeeperInventory.ps1
             -OutFile \\linux-agent\chainkeeper\hyperv.json -PathMap @{ 'C:\ClusterStorage\Volume1' = '/mnt/csv1' }
    The agent runs it with CHAINKEEPER_OPERATION=repair, CHAINKEEPER_VM_ID, CHAINKEEPER_VM_NAME,
    CHAINKEEPER_TARGET_VOLUME (the VM's folder on the target volume, as the agent sees it) and CHAINKEEPER_PLAN (a JSON
    file: operationId, vmId, vmName, epoch, action, moves [{from, to, kind, size}], keepOld, …).

    Hyper-V moves the whole VM (configuration, checkpoints, smart paging file, every VHDX/AVHDX of every chain) into
    that folder and re-links its differencing disks itself: the stranded files and the rest together, as its own
    Storage Migration does. With keepOld the VHD copies on the source are retained (-RetainVhdCopiesOnSource).

    The agent may run it again for the same operation after a crash (CHAINKEEPER_MIGRATION_ID is the same): a VM whose
    planned files are all in place already is not moved again. A non-zero exit fails the operation; its output goes to
    the agent's log. This script cannot run on the Linux machines Chainkeeper is developed on; AgentTests
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

if ($env:CHAINKEEPER_OPERATION -ne 'repair') { throw "this is the repair hook, not $env:CHAINKEEPER_OPERATION" }
$plan = Get-Content -LiteralPath $env:CHAINKEEPER_PLAN -Raw | ConvertFrom-Json
if ($plan.vmId -ne $env:CHAINKEEPER_VM_ID) { throw "the plan is for VM $($plan.vmId), not $env:CHAINKEEPER_VM_ID" }
if ($plan.action -ne 'repair') { throw "the plan is a $($plan.action), not a repair" }
$vm = Get-VM -Id $plan.vmId
$destination = ConvertFrom-AgentPath $env:CHAINKEEPER_TARGET_VOLUME
if (-not $destination) { throw "the plan for $($plan.vmName) names no destination" }

# Done already (a repeat after a crash): every planned file is at its new place and gone from the old one.
$pending = @($plan.moves | Where-Object {
    (Test-Path -LiteralPath (ConvertFrom-AgentPath $_.from)) -or -not (Test-Path -LiteralPath (ConvertFrom-AgentPath $_.to))
})
if ($pending.Count -gt 0) {
    New-Item -ItemType Directory -Force -Path $destination | Out-Null
    Move-VMStorage -VM $vm -DestinationStoragePath $destination -RetainVhdCopiesOnSource:([bool] $plan.keepOld)
}

& $Exporter -OutFile $OutFile -PathMap $PathMap
