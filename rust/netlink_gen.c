// SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)
/* Do not edit directly, auto-generated from: */
/*	Documentation/netlink/specs/coretakeover.yaml */
/* YNL-GEN kernel source */

#include <net/netlink.h>
#include <net/genetlink.h>

#include "netlink_gen.h"

#include "netlink_uapi.h"

/* Integer value ranges */
static const struct netlink_range_validation coretakeover_a_status_node_id_range = {
	.min	= 1ULL,
	.max	= 65535ULL,
};

static const struct netlink_range_validation coretakeover_a_status_partner_id_range = {
	.min	= 1ULL,
	.max	= 65535ULL,
};

/* Common nested types */
const struct nla_policy coretakeover_disk_nl_policy[CORETAKEOVER_A_DISK_QUEUED_US + 1] = {
	[CORETAKEOVER_A_DISK_PATH] = { .type = NLA_NUL_STRING, .len = 256, },
	[CORETAKEOVER_A_DISK_HELD] = { .type = NLA_U8, },
	[CORETAKEOVER_A_DISK_METHOD] = NLA_POLICY_MAX(NLA_U32, 3),
	[CORETAKEOVER_A_DISK_ERROR] = { .type = NLA_U32, },
	[CORETAKEOVER_A_DISK_MESSAGE] = { .type = NLA_NUL_STRING, },
	[CORETAKEOVER_A_DISK_LATENCY_US] = { .type = NLA_UINT, },
	[CORETAKEOVER_A_DISK_PR_US] = { .type = NLA_UINT, },
	[CORETAKEOVER_A_DISK_ATTEMPTS] = { .type = NLA_U32, },
	[CORETAKEOVER_A_DISK_QUEUED_US] = { .type = NLA_UINT, },
};

/* CORETAKEOVER_CMD_SET_CONFIG - do */
static const struct nla_policy coretakeover_set_config_nl_policy[CORETAKEOVER_A_STATUS_PARTNER_DUMP_DISK + 1] = {
	[CORETAKEOVER_A_STATUS_CLUSTER_ID] = NLA_POLICY_MIN(NLA_U32, 1),
	[CORETAKEOVER_A_STATUS_NODE_ID] = NLA_POLICY_FULL_RANGE(NLA_U32, &coretakeover_a_status_node_id_range),
	[CORETAKEOVER_A_STATUS_PARTNER_ID] = NLA_POLICY_FULL_RANGE(NLA_U32, &coretakeover_a_status_partner_id_range),
	[CORETAKEOVER_A_STATUS_SERVICE_DISK] = NLA_POLICY_NESTED(coretakeover_disk_nl_policy),
	[CORETAKEOVER_A_STATUS_PARTNER_DISK] = NLA_POLICY_NESTED(coretakeover_disk_nl_policy),
	[CORETAKEOVER_A_STATUS_PARTNER_DUMP_DISK] = { .type = NLA_NUL_STRING, .len = 256, },
};

/* Ops table for coretakeover */
static const struct genl_split_ops coretakeover_nl_ops[] = {
	{
		.cmd	= CORETAKEOVER_CMD_GET_STATUS,
		.doit	= coretakeover_nl_get_status_doit,
		.flags	= GENL_CMD_CAP_DO,
	},
	{
		.cmd		= CORETAKEOVER_CMD_SET_CONFIG,
		.doit		= coretakeover_nl_set_config_doit,
		.policy		= coretakeover_set_config_nl_policy,
		.maxattr	= CORETAKEOVER_A_STATUS_PARTNER_DUMP_DISK,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd	= CORETAKEOVER_CMD_TAKEOVER,
		.doit	= coretakeover_nl_takeover_doit,
		.flags	= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd	= CORETAKEOVER_CMD_GIVEBACK,
		.doit	= coretakeover_nl_giveback_doit,
		.flags	= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
};

static const struct genl_multicast_group coretakeover_nl_mcgrps[] = {
	[CORETAKEOVER_NLGRP_EVENTS] = { "events", },
};

struct genl_family coretakeover_nl_family __ro_after_init = {
	.name		= CORETAKEOVER_FAMILY_NAME,
	.version	= CORETAKEOVER_FAMILY_VERSION,
	.netnsok	= false,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.split_ops	= coretakeover_nl_ops,
	.n_split_ops	= ARRAY_SIZE(coretakeover_nl_ops),
	.mcgrps		= coretakeover_nl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(coretakeover_nl_mcgrps),
};
