<#
.SYNOPSIS
    Writes the hyperv-json inventory (SPEC §4) that a Chainkeeper agent reads, from Get-VM and Get-VMSnapshot.

.DESCRIPTION
    Run on each Hyper-V host (as a scheduled task, every minute or on checkpoint events). Paths are rewritten with
    -PathMap from how Windows sees them (C:\ClusterStorage\Volume1\...) to how the agent sees the same storage
    (/mnt/csv1/...). The file is written to a temporary name and renamed, so the agent never reads half of it.

    This script cannot run on the Linux machines Chainkeeper is developed on; what it must produce is tested there:
    deploy/hyperv/example-export.json is its output (version 2) for a VM with two checkpoints, and AgentTests
    (HyperVExporterContractTests) read it with the agent's own reader and check that every key written here is one
    SPEC §4 defines.

.EXAMPLE
    .\Export-ChainkeeperInventory.ps1 -OutFile \\linux-agent\chainkeeper\hyperv.json `
        -PathMap @{ 'C:\ClusterStorage\Volume1' = '/mnt/csv1' }
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string] $OutFile,
    [hashtable] $PathMap = @{}
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

# A Windows path as the agent sees it: the longest matching -PathMap prefix replaced, backslashes made slashes.
function ConvertTo-AgentPath([string] $Path) {
    if ([string]::IsNullOrEmpty($Path)) { return $null }
    $best = $null
    foreach ($prefix in $PathMap.Keys) {
        if ($Path.StartsWith($prefix, [StringComparison]::OrdinalIgnoreCase) -and
            ($null -eq $best -or $prefix.Length -gt $best.Length)) { $best = $prefix }
    }
    if ($null -eq $best) { return $Path }
    return ($PathMap[$best] + $Path.Substring($best.Length)).Replace('\', '/')
}

function Get-FileIfPresent([string] $Path) {
    if ($Path -and (Test-Path -LiteralPath $Path)) { return ConvertTo-AgentPath $Path }
    return $null
}

# The first of several names a file may have (2016+ .vmcx/.vmrs, 2008-2012 R2 .xml/.bin/.vsv) that exists; when none
# does, the first name: a file Hyper-V should have written is exported where it should be, so the agent reports it
# `file-missing` instead of silently leaving it out.
function Get-ExpectedFile([string[]] $Candidates) {
    foreach ($candidate in $Candidates) {
        if ($candidate -and (Test-Path -LiteralPath $candidate)) { return ConvertTo-AgentPath $candidate }
    }
    return ConvertTo-AgentPath $Candidates[0]
}

# Get-VMSnapshot's SnapshotType in SPEC §4's words.
function ConvertTo-SnapshotType($Snapshot) {
    switch -Wildcard ($Snapshot.SnapshotType.ToString()) {
        'Standard' { if ($Snapshot.IsDeleted) { 'missing' } elseif ($Snapshot.CheckpointType -eq 'Production') { 'production' } else { 'standard' } }
        'Recovery' { 'recovery' }
        'Planned' { 'planned' }
        'Missing' { 'missing' }
        '*Replica' { 'replica' }
        default { $_.ToLowerInvariant() }
    }
}

$vms = foreach ($vm in Get-VM) {
    $id = $vm.Id.ToString()
    $machineDir = Join-Path $vm.ConfigurationLocation 'Virtual Machines'
    $snapshotDir = Join-Path $vm.SnapshotFileLocation 'Snapshots'
    $snapshots = foreach ($snapshot in Get-VMSnapshot -VM $vm) {
        $sid = $snapshot.Id.ToString()
        $type = ConvertTo-SnapshotType $snapshot
        # 2008-2012 R2 keep a checkpoint's memory in Snapshots\<id>\<id>.bin and .vsv beside its <id>.xml.
        $legacy = Join-Path $snapshotDir $sid
        # A standard checkpoint of a running VM saved its memory: expected even when missing.
        $withMemory = $type -eq 'standard' -and $snapshot.State -ne 'Off'
        [ordered]@{
            id                = $sid
            name              = $snapshot.Name
            parentId          = if ($snapshot.ParentSnapshotId) { $snapshot.ParentSnapshotId.ToString() } else { $null }
            created           = $snapshot.CreationTime.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ')
            type              = $type
            configurationPath = Get-ExpectedFile @((Join-Path $snapshotDir "$sid.vmcx"), (Join-Path $snapshotDir "$sid.xml"))
            memoryPath        = if ($withMemory) {
                Get-ExpectedFile @((Join-Path $snapshotDir "$sid.vmrs"), (Join-Path $legacy "$sid.bin"))
            } else { Get-FileIfPresent (Join-Path $snapshotDir "$sid.vmrs") }
            savedStatePath    = if (Test-Path -LiteralPath (Join-Path $legacy "$sid.bin")) {
                Get-ExpectedFile @((Join-Path $legacy "$sid.vsv"))
            } else { Get-FileIfPresent (Join-Path $snapshotDir "$sid.vsv") }
            disks             = @($snapshot.HardDrives | ForEach-Object { ConvertTo-AgentPath $_.Path })
        }
    }
    [ordered]@{
        id                = $id
        name              = $vm.Name
        state             = $vm.State.ToString()
        highlyAvailable   = [bool] $vm.IsClustered
        memoryMiB         = [int] ($vm.MemoryStartup / 1MB)
        configurationPath = Get-ExpectedFile @((Join-Path $machineDir "$id.vmcx"), (Join-Path $machineDir "$id.xml"))
        runtimeStatePath  = Get-FileIfPresent (Join-Path $machineDir "$id.vmrs")
        guestStatePath    = Get-FileIfPresent (Join-Path $machineDir "$id.vmgs")
        disks             = @($vm.HardDrives | ForEach-Object { ConvertTo-AgentPath $_.Path })
        snapshots         = @($snapshots)
        # Version 2: where the next checkpoint and the smart paging file go, the current checkpoint, mounted ISOs,
        # and a checkpoint merge still running.
        checkpointFileLocation = ConvertTo-AgentPath $vm.SnapshotFileLocation
        smartPagingFilePath    = ConvertTo-AgentPath $vm.SmartPagingFilePath
        currentSnapshotId      = if ($vm.ParentSnapshotId) { $vm.ParentSnapshotId.ToString() } else { $null }
        dvdDrives              = @(Get-VMDvdDrive -VM $vm | Where-Object { $_.Path } | ForEach-Object { ConvertTo-AgentPath $_.Path })
        mergePending           = [bool] (@($vm.OperationalStatus) -contains 'MergingDisks')
    }
}

$document = [ordered]@{ version = 2; exportedBy = "Export-ChainkeeperInventory on $env:COMPUTERNAME"; vms = @($vms) }
$temporary = "$OutFile.tmp"
$document | ConvertTo-Json -Depth 8 | Set-Content -LiteralPath $temporary -Encoding UTF8
Move-Item -LiteralPath $temporary -Destination $OutFile -Force
