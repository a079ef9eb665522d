/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	Documentation/netlink/specs/coretakeover.yaml */
/* YNL-GEN kernel header */

#ifndef _LINUX_CORETAKEOVER_GEN_H
#define _LINUX_CORETAKEOVER_GEN_H

#include <net/netlink.h>
#include <net/genetlink.h>

#include "netlink_uapi.h"

/* Common nested types */
extern const struct nla_policy coretakeover_disk_nl_policy[CORETAKEOVER_A_DISK_QUEUED_US + 1];

int coretakeover_nl_get_status_doit(struct sk_buff *skb,
				    struct genl_info *info);
int coretakeover_nl_set_config_doit(struct sk_buff *skb,
				    struct genl_info *info);
int coretakeover_nl_takeover_doit(struct sk_buff *skb, struct genl_info *info);
int coretakeover_nl_giveback_doit(struct sk_buff *skb, struct genl_info *info);

enum {
	CORETAKEOVER_NLGRP_EVENTS,
};

extern struct genl_family coretakeover_nl_family;

#endif /* _LINUX_CORETAKEOVER_GEN_H */
