// Two provisioning channels from one template: the channel of
// channel.json, once per site group, each with its own seeds, budget and
// output files. Run it with:
//
//   go run ./cmd/strata run --config examples/channel/channel.jsonnet --cycles 5
local base = import 'channel.json';

local channel(name, seed, sites, budget) = base {
  channel_name:: null,  // named by its key under "channels"
  sources+: {
    job_queue+: { parameters+: { seed: seed } },
    resource_offers+: { parameters+: { seed: seed + 100, sites: sites } },
  },
  logicengines+: {
    logicengine+: { parameters+: { facts+: {
      over_budget: 'sum(requests, .cost_per_hour) > %g' % budget,
    } } },
  },
  publishers: {
    request_file: { module: 'jsonlines', parameters: { path: 'strata-%s-requests.jsonl' % name, product: 'requests' } },
    alert_file: { module: 'jsonlines', parameters: { path: 'strata-%s-alerts.jsonl' % name, product: 'demand' } },
  },
};

{
  channels: {
    provisioning_hpc: channel('hpc', 21, ['nersc', 'fnal-cloud'], 4.0),
    provisioning_cloud: channel('cloud', 42, ['aws-us-east-1', 'gcp-us-central1'], 2.5),
  },
}
