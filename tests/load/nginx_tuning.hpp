// Load tests hold more connections than the shared nginx fixture's 128 per worker: raise it
// in the fixture's own nginx.conf and reload before any deploy.
#pragma once

#include "e2e_host.hpp"

namespace zdd_load {

void set_worker_connections(zdd_e2e::E2eHost& h, int n);

// GET /health through nginx: the version that answered ("" on error).
std::string version_through_nginx(const zdd_e2e::E2eHost& h);

}  // namespace zdd_load
