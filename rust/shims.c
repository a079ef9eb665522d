// SPDX-License-Identifier: GPL-2.0
/*
 * One-line forwarders to kernel macros and static inline functions, which
 * Rust cannot call, and to exported functions whose header 6.12's Rust
 * bindings do not include. Each exists only for that reason; the Rust side
 * declares them in shims.rs. Other exported functions are called from Rust
 * directly.
 */

#include <linux/blkdev.h>
#include <linux/cpuhotplug.h>
#include <crypto/chacha.h>
#include <linux/unaligned.h>
#include <linux/hrtimer.h>
#include <linux/kexec.h>
#include <linux/kernfs.h>
#include <scsi/scsi_device.h>
#include <linux/io.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/device-mapper.h>
#include <linux/kthread.h>
#include <linux/lz4.h>
#include <linux/zstd.h>
#include <linux/sched/task_stack.h>
#include <linux/workqueue.h>
#include <linux/mm.h>
#include <linux/panic_notifier.h>
#include <linux/pr.h>
#include <linux/sched/clock.h>
#include <linux/smp.h>
#include <linux/utsname.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <net/genetlink.h>

#include "netlink_gen.h"
#include "shims.h"

/*
 * Drops this node's cached pages of a disk and of each of its partitions
 * (invalidate_bdev: clean, unused pages and buffers), when the disk comes
 * back to this node after the other node wrote it. Every partition has a
 * page cache of its own, and the partition table is an xarray read under
 * RCU (xa_for_each and rcu_read_lock are macros and inlines), as
 * blk_report_disk_dead() walks it.
 */
void ct_disk_drop_cache(struct block_device *bdev)
{
	struct block_device *part;
	unsigned long idx;

	rcu_read_lock();
	xa_for_each(&bdev->bd_disk->part_tbl, idx, part) {
		if (!kobject_get_unless_zero(&part->bd_device.kobj))
			continue;
		rcu_read_unlock();
		invalidate_bdev(part);
		put_device(&part->bd_device);
		rcu_read_lock();
	}
	rcu_read_unlock();
}

/* BLK_OPEN_* are macros with sparse casts. */
blk_mode_t ct_blk_open_read_write(void) { return BLK_OPEN_READ | BLK_OPEN_WRITE; }
blk_mode_t ct_blk_open_read(void) { return BLK_OPEN_READ; }

/* Queue properties: static inlines and macros over struct queue_limits. */
u64 ct_bdev_nr_bytes(struct block_device *bdev) { return bdev_nr_bytes(bdev); }
bool ct_bdev_polls(struct block_device *bdev) { return bdev_get_queue(bdev)->limits.features & BLK_FEAT_POLL; }
bool ct_bdev_write_cache(struct block_device *bdev) { return bdev_write_cache(bdev); }
bool ct_bdev_has_scheduler(struct block_device *bdev) { return bdev_get_queue(bdev)->elevator != NULL; }
unsigned int ct_bdev_max_segments(struct block_device *bdev) { return queue_max_segments(bdev_get_queue(bdev)); }
unsigned int ct_bdev_max_sectors(struct block_device *bdev) { return queue_max_sectors(bdev_get_queue(bdev)); }
unsigned int ct_bdev_max_segment_size(struct block_device *bdev) { return queue_max_segment_size(bdev_get_queue(bdev)); }
unsigned int ct_bdev_logical_block_size(struct block_device *bdev) { return bdev_logical_block_size(bdev); }

/*
 * The driver behind a disk: the first device up from the disk that has a
 * driver, past SCSI's "sd" (for a SCSI disk, the host adapter's driver);
 * "" if none. Walking dev->parent is what dev_driver_string() cannot do.
 */
const char *ct_bdev_driver(struct block_device *bdev)
{
	struct device *dev = disk_to_dev(bdev->bd_disk)->parent;

	for (; dev; dev = dev->parent)
		if (dev->driver && dev->driver->name && strcmp(dev->driver->name, "sd"))
			return dev->driver->name;
	return "";
}

/*
 * Whether the disk is a virtio device that negotiated indirect descriptors:
 * then its driver allocates a descriptor table for every request
 * (GFP_ATOMIC), also in the panic path. dev_to_virtio() is container_of();
 * virtio_has_feature() is static inline.
 */
bool ct_bdev_virtio_indirect(struct block_device *bdev)
{
	struct device *parent = disk_to_dev(bdev->bd_disk)->parent;

	if (!parent || !parent->bus || strcmp(parent->bus->name, "virtio"))
		return false;
	return virtio_has_feature(dev_to_virtio(parent), VIRTIO_RING_F_INDIRECT_DESC);
}

/* The direct map: __va(), PAGE_OFFSET and virt_to_page() are macros. */
void *ct_phys_to_virt(phys_addr_t phys) { return phys_to_virt(phys); }
unsigned long ct_page_offset(void) { return PAGE_OFFSET; }
/* The memory map: struct page of page frame 0 (SPARSEMEM_VMEMMAP: the map is
 * one virtual array), and the size of one entry. */
unsigned long ct_memmap_base(void) { return (unsigned long)vmemmap; }
unsigned long ct_struct_page_size(void) { return sizeof(struct page); }
struct page *ct_virt_to_page(const void *addr) { return virt_to_page(addr); }

/* init_utsname() is a static inline and struct uts_namespace opaque to Rust. */
const char *ct_kernel_release(void) { return init_utsname()->release; }

/*
 * The caller's registers, as kdump's __crash_kexec() takes them:
 * crash_setup_regs() is a static inline (asm). @regs is reached through a
 * pointer, so the asm's memory operands do not move with its pushfq.
 */
void ct_panic_registers(struct pt_regs *regs) { crash_setup_regs(regs, NULL); }

/*
 * The clock of the panic path: sched_clock(), on x86 the TSC scaled to
 * nanoseconds, read without a lock. The timekeeping clocks (ktime_get_*,
 * even the NMI-safe _fast_ ones) read the clocksource, and HPET's read
 * spins until another reader releases a lock: a CPU that the panic stopped
 * while it held that lock makes every later read spin forever. Not
 * local_clock() either: with an unstable sched_clock it is clamped to one
 * tick past the last tick, and no tick comes after a panic. Not among the
 * Rust bindings (linux/sched/clock.h).
 */
u64 ct_panic_clock_ns(void) { return sched_clock(); }

/* udelay() is a macro: a calibrated busy wait that reads no clock. */
void ct_udelay(unsigned long us) { udelay(us); }

/*
 * Turns I/O accounting off on the coredump disk at a panic: with it on, the
 * block layer stamps every request with ktime_get_ns(), which can spin
 * forever after a panic (above, and a timekeeping update cut off by the
 * stop of its CPU). In process context this is a queue limits update under
 * the limits lock (what writing queue/iostats does); after a panic the
 * other CPUs are stopped and no lock may be taken: one word written, read
 * by the request allocations that follow on this CPU. The disk serves
 * nothing else.
 */
void ct_bdev_panic_no_iostat(struct block_device *bdev)
{
	struct request_queue *q = bdev_get_queue(bdev);

	WRITE_ONCE(q->limits.features, q->limits.features & ~BLK_FEAT_IO_STAT);
}

/* raw_smp_processor_id() is a macro. */
unsigned int ct_processor_id(void) { return raw_smp_processor_id(); }
bool ct_in_nmi(void) { return in_nmi(); }

/* linux/panic_notifier.h is not among the Rust bindings' headers. */
int ct_panic_notifier_register(struct notifier_block *nb) { return atomic_notifier_chain_register(&panic_notifier_list, nb); }
int ct_panic_notifier_unregister(struct notifier_block *nb) { return atomic_notifier_chain_unregister(&panic_notifier_list, nb); }

/*
 * The block layer's persistent reservation operations: struct pr_ops is
 * opaque to Rust (linux/pr.h is not among the bindings' headers). Each
 * returns 0, a negative errno, or a positive PR_STS_* status.
 */
static const struct pr_ops *ct_pr_ops(struct block_device *bdev)
{
	return bdev->bd_disk->fops->pr_ops;
}

int ct_pr_register(struct block_device *bdev, u64 old_key, u64 new_key, u32 flags)
{
	const struct pr_ops *ops = ct_pr_ops(bdev);

	return ops && ops->pr_register ? ops->pr_register(bdev, old_key, new_key, flags) : -EOPNOTSUPP;
}

int ct_pr_reserve(struct block_device *bdev, u64 key, u32 type, u32 flags)
{
	const struct pr_ops *ops = ct_pr_ops(bdev);

	return ops && ops->pr_reserve ? ops->pr_reserve(bdev, key, type, flags) : -EOPNOTSUPP;
}

int ct_pr_release(struct block_device *bdev, u64 key, u32 type)
{
	const struct pr_ops *ops = ct_pr_ops(bdev);

	return ops && ops->pr_release ? ops->pr_release(bdev, key, type) : -EOPNOTSUPP;
}

int ct_pr_preempt(struct block_device *bdev, u64 old_key, u64 new_key, u32 type, bool abort)
{
	const struct pr_ops *ops = ct_pr_ops(bdev);

	return ops && ops->pr_preempt ? ops->pr_preempt(bdev, old_key, new_key, type, abort) : -EOPNOTSUPP;
}

/*
 * Whether @bdev is a device-mapper device (a multipath map), whose pr_ops
 * forward to its paths. dm_get_md() is exported, but 6.12's Rust bindings
 * do not include linux/device-mapper.h.
 */
bool ct_bdev_is_dm(struct block_device *bdev)
{
#if IS_ENABLED(CONFIG_BLK_DEV_DM)
	struct mapped_device *md = dm_get_md(bdev->bd_dev);

	if (md) {
		dm_put(md);
		return true;
	}
#endif
	return false;
}

/* Whether @bdev is a partition, not a whole disk (bdev_is_partition is inline). */
bool ct_bdev_is_partition(struct block_device *bdev) { return bdev_is_partition(bdev); }

/*
 * The live paths of multipath map @map: the whole disks whose holders/
 * directory links to the map's disk (dm links every device of its table
 * with bd_link_disk_holder(): /sys/block/sdX/holders/dm-N), and whose SCSI
 * device, if they are one, is online. Not a forwarder: 6.12 exports nothing
 * that walks a map's table (dm_get_live_table() and a target's
 * iterate_devices are dm's own), so this walks the block class, reached
 * from the map's own device, and asks kernfs for the link by name.
 *
 * It runs on the takeover's path, so it never waits: a disk whose
 * open_mutex is taken (being opened, closed or deleted) is skipped. The
 * mutex is held only to take a reference to the holders/ directory of a
 * live disk, as bd_link_disk_holder() does, since del_gendisk() drops it.
 *
 * Fills @devs with up to @max device numbers, in the block class's order;
 * returns how many live paths there are (possibly more than @max).
 */
int ct_dm_live_paths(struct block_device *map, dev_t *devs, int max)
{
	const char *name = map->bd_disk->disk_name;
	struct class_dev_iter iter;
	struct device *dev;
	int n = 0;

	class_dev_iter_init(&iter, map->bd_device.class, NULL, NULL);
	while ((dev = class_dev_iter_next(&iter))) {
		struct block_device *bdev = dev_to_bdev(dev);
		struct gendisk *disk = bdev->bd_disk;
		struct kobject *holders = NULL;
		struct kernfs_node *link;

		if (bdev_is_partition(bdev) || disk == map->bd_disk)
			continue;
		if (!mutex_trylock(&disk->open_mutex))
			continue;
		if (disk_live(disk) && bdev->bd_holder_dir)
			holders = kobject_get(bdev->bd_holder_dir);
		mutex_unlock(&disk->open_mutex);
		if (!holders)
			continue;
		link = kernfs_find_and_get(holders->sd, name);
		kobject_put(holders);
		if (!link)
			continue;
		kernfs_put(link);
#if IS_ENABLED(CONFIG_SCSI)
		if (dev->parent && scsi_is_sdev_device(dev->parent) &&
		    !scsi_device_online(to_scsi_device(dev->parent)))
			continue;
#endif
		if (n < max)
			devs[n] = bdev->bd_dev;
		n++;
	}
	class_dev_iter_exit(&iter);
	return n;
}

int ct_pr_read_reservation(struct block_device *bdev, u64 *key, u32 *type)
{
	const struct pr_ops *ops = ct_pr_ops(bdev);
	struct pr_held_reservation rsv = {};
	int ret;

	if (!ops || !ops->pr_read_reservation)
		return -EOPNOTSUPP;
	ret = ops->pr_read_reservation(bdev, &rsv);
	*key = rsv.key;
	*type = rsv.type;
	return ret;
}

/* Whether @key is among the keys registered on @bdev: 1, 0, or -errno. */
int ct_pr_key_registered(struct block_device *bdev, u64 key)
{
	const struct pr_ops *ops = ct_pr_ops(bdev);
	struct pr_keys *keys;
	u32 i, n = 64;
	int ret;

	if (!ops || !ops->pr_read_keys)
		return -EOPNOTSUPP;
	keys = kzalloc(struct_size(keys, keys, n), GFP_KERNEL);
	if (!keys)
		return -ENOMEM;
	keys->num_keys = n;
	ret = ops->pr_read_keys(bdev, keys);
	if (ret > 0)	/* a SCSI/NVMe status */
		ret = -EIO;
	if (!ret) {
		for (i = 0; i < min(keys->num_keys, n); i++)
			if (keys->keys[i] == key)
				ret = 1;
	}
	kfree(keys);
	return ret;
}

/*
 * The node's events (events.rs): a blocking notifier chain, whose static
 * initialiser (its rw_semaphore) is a macro.
 */
static BLOCKING_NOTIFIER_HEAD(ct_events);

int ct_events_register(struct notifier_block *nb) { return blocking_notifier_chain_register(&ct_events, nb); }
int ct_events_unregister(struct notifier_block *nb) { return blocking_notifier_chain_unregister(&ct_events, nb); }
void ct_events_call(void *event) { blocking_notifier_call_chain(&ct_events, 0, event); }

/* kthread_run() is a macro. */
struct task_struct *ct_kthread_run(int (*fn)(void *), void *data, const char *name)
{
	return kthread_run(fn, data, "%s", name);
}

/*
 * Generic netlink: the family and its tables are generated from the YAML
 * spec (netlink_gen.c); these forward to the static inline message helpers
 * of net/genetlink.h and net/netlink.h for the Rust handlers (netlink.rs).
 */
/*
 * Whether the sender of @skb may change disks: it acts in the initial
 * network namespace (the family is registered without netnsok, so this
 * holds already; checked again because a disk is no namespaced object),
 * and has CAP_SYS_ADMIN in the initial user namespace, as writing the
 * sysfs knobs needs root. GENL_ADMIN_PERM alone asks for CAP_NET_ADMIN,
 * which a container is often given.
 */
bool ct_nl_may_change_disks(const struct sk_buff *skb, struct genl_info *info)
{
	return net_eq(genl_info_net(info), &init_net) && netlink_capable(skb, CAP_SYS_ADMIN);
}

int ct_nl_register(void) { return genl_register_family(&coretakeover_nl_family); }
void ct_nl_unregister(void) { genl_unregister_family(&coretakeover_nl_family); }

/* A reply to `info`, or (without `info`) an event `cmd`, with its header. */
static struct sk_buff *ct_nl_start(struct genl_info *info, u8 cmd, void **hdr)
{
	struct sk_buff *skb = genlmsg_new(GENLMSG_DEFAULT_SIZE, GFP_KERNEL);

	if (!skb)
		return NULL;
	*hdr = info ? genlmsg_iput(skb, info) : genlmsg_put(skb, 0, 0, &coretakeover_nl_family, 0, cmd);
	if (!*hdr) {
		nlmsg_free(skb);
		return NULL;
	}
	return skb;
}

struct sk_buff *ct_nl_reply_new(struct genl_info *info, void **hdr) { return ct_nl_start(info, 0, hdr); }
struct sk_buff *ct_nl_event_new(u8 cmd, void **hdr) { return ct_nl_start(NULL, cmd, hdr); }

int ct_nl_put_u32(struct sk_buff *skb, int type, u32 value) { return nla_put_u32(skb, type, value); }
int ct_nl_put_uint(struct sk_buff *skb, int type, u64 value) { return nla_put_uint(skb, type, value); }

int ct_nl_put_u8(struct sk_buff *skb, int type, u8 value) { return nla_put_u8(skb, type, value); }
struct nlattr *ct_nl_nest_start(struct sk_buff *skb, int type) { return nla_nest_start(skb, type); }
void ct_nl_nest_end(struct sk_buff *skb, struct nlattr *nest) { nla_nest_end(skb, nest); }
void ct_nl_nest_cancel(struct sk_buff *skb, struct nlattr *nest) { nla_nest_cancel(skb, nest); }

int ct_nl_put_str(struct sk_buff *skb, int type, const char *text, int len)
{
	struct nlattr *attr = nla_reserve(skb, type, len + 1);

	if (!attr)
		return -EMSGSIZE;
	memcpy(nla_data(attr), text, len);
	((char *)nla_data(attr))[len] = 0;
	return 0;
}

int ct_nl_reply_send(struct sk_buff *skb, void *hdr, struct genl_info *info)
{
	genlmsg_end(skb, hdr);
	return genlmsg_reply(skb, info);
}

int ct_nl_event_send(struct sk_buff *skb, void *hdr)
{
	genlmsg_end(skb, hdr);
	return genlmsg_multicast(&coretakeover_nl_family, skb, 0, CORETAKEOVER_NLGRP_EVENTS, GFP_KERNEL);
}

void ct_nl_free(struct sk_buff *skb) { nlmsg_free(skb); }

bool ct_nl_get_u32(struct genl_info *info, int type, u32 *value)
{
	if (!info->attrs || !info->attrs[type])
		return false;
	*value = nla_get_u32(info->attrs[type]);
	return true;
}

bool ct_nl_get_str(struct genl_info *info, int type, const char **text, int *len)
{
	struct nlattr *attr = info->attrs ? info->attrs[type] : NULL;

	if (!attr)
		return false;
	/* NLA_NUL_STRING (policy): the payload ends in a NUL within its length. */
	*text = nla_data(attr);
	*len = strnlen(*text, nla_len(attr));
	return true;
}

/*
 * The attributes of type @type of a request, in order (a multi-attr the
 * policy allows more than once; info->attrs holds only the last): the
 * first after @prev, or the first if @prev is NULL.
 */
const struct nlattr *ct_nl_next_attr(struct genl_info *info, int type, const struct nlattr *prev)
{
	const struct nlattr *attr;
	int rem;

	nla_for_each_attr_type(attr, type, genlmsg_data(info->genlhdr), genlmsg_len(info->genlhdr), rem) {
		if (!prev)
			return attr;
		if (attr == prev)
			prev = NULL;
	}
	return NULL;
}

/* A string attribute of type @type inside @nest (checked by the policy). */
bool ct_nl_nested_str(const struct nlattr *nest, int type, const char **text, int *len)
{
	const struct nlattr *attr = nla_find_nested(nest, type);

	if (!attr)
		return false;
	*text = nla_data(attr);
	*len = strnlen(*text, nla_len(attr));
	return true;
}

/* The extended ack message of a refused request (copied: NL_SET_ERR_MSG_FMT). */
void ct_nl_set_err_msg(struct genl_info *info, const char *text, int len)
{
	NL_SET_ERR_MSG_FMT(info->extack, "%.*s", len, text);
}

/* INIT_WORK(), queue_work() and init_completion() are macros or inlines. */
void ct_init_work(struct work_struct *work, work_func_t fn) { INIT_WORK(work, fn); }
bool ct_queue_work_unbound(struct work_struct *work) { return queue_work(system_unbound_wq, work); }
void ct_init_completion(struct completion *done) { init_completion(done); }

/* Test hooks under debugfs (coretakeover/), not an interface. */
static struct dentry *ct_debugfs;

void ct_debugfs_init(u32 *panic_after_mib)
{
	ct_debugfs = debugfs_create_dir("coretakeover", NULL);
	debugfs_create_u32("test_panic_after_mib", 0600, ct_debugfs, panic_after_mib);
}

void ct_debugfs_exit(void)
{
	debugfs_remove(ct_debugfs);
}

/*
 * The zstd codec of the dump (codec.rs). linux/zstd.h is not among the
 * bindings' headers, and zstd_get_params() returns a struct by value: the
 * parameters stay on this side. Level 1, the fastest, for a chunk of
 * `chunk` bytes; the workspace bound and every compression use the same
 * parameters, so the context never needs more than it was given.
 */
#define CT_ZSTD_LEVEL 1

size_t ct_zstd_workspace_size(size_t chunk)
{
	zstd_parameters p = zstd_get_params(CT_ZSTD_LEVEL, chunk);

	return zstd_cctx_workspace_bound(&p.cParams);
}

void *ct_zstd_init(void *workspace, size_t size) { return zstd_init_cctx(workspace, size); }

/* The compressed length, or 0 when it does not fit in `cap` (or failed). */
size_t ct_zstd_compress(void *cctx, void *dst, size_t cap, const void *src, size_t len, size_t chunk)
{
	zstd_parameters p = zstd_get_params(CT_ZSTD_LEVEL, chunk);
	size_t n = zstd_compress_cctx(cctx, dst, cap, src, len, &p);

	return zstd_is_error(n) ? 0 : n;
}

size_t ct_lz4_workspace_size(void) { return LZ4_MEM_COMPRESS; }

/*
 * The stack one compression takes, measured at arming: the unused part of
 * this task's stack below the caller is painted, the codec runs on the
 * sample with interrupts off (nothing else touches the stack meanwhile),
 * and the deepest byte no longer painted tells how deep it went. Not
 * instrumented by KASAN: it writes and reads below the stack pointer on
 * purpose. codec: 1 lz4, 2 zstd (codec.rs). Returns the compressed length
 * (0: did not fit) and the stack bytes below this function's frame in
 * *stack (at least the painter's margin, about 100 bytes: a codec that
 * took less reads as that).
 */
#define CT_STACK_PAINT 0x6b
#define CT_STACK_GUARD 1024

/* Paints from the stack's bottom (past a guard) to 64 bytes below its own frame. */
static __no_sanitize_address noinline unsigned long ct_stack_paint(void)
{
	unsigned long below = current_stack_pointer - 64;
	volatile u8 *p = (u8 *)task_stack_page(current) + CT_STACK_GUARD;

	for (; (unsigned long)p < below; p++)
		*p = CT_STACK_PAINT;
	return below;
}

static __no_sanitize_address noinline unsigned long ct_stack_deepest(unsigned long below)
{
	const volatile u8 *p = (u8 *)task_stack_page(current) + CT_STACK_GUARD;

	while ((unsigned long)p < below && *p == CT_STACK_PAINT)
		p++;
	return (unsigned long)p;
}

size_t ct_compress_measured(int codec, void *work, void *dst, size_t cap, const void *src,
			    size_t len, size_t chunk, size_t *stack)
{
	unsigned long flags, sp = current_stack_pointer, top;
	size_t n = 0;

	local_irq_save(flags);
	top = ct_stack_paint();
	if (codec == 1)
		n = LZ4_compress_fast(src, dst, len, cap, 1, work);
	else if (codec == 2)
		n = ct_zstd_compress(work, dst, cap, src, len, chunk);
	*stack = sp - ct_stack_deepest(top);
	local_irq_restore(flags);
	return n;
}

/*
 * The self-fence's lapse check (takeover.rs, lapse_tick): a pinned
 * hrtimer in hard interrupt mode on every online CPU, each period. Per-CPU
 * variables and CPU hotplug callbacks are macros and structures 6.12's Rust
 * bindings do not reach. A CPU that hung with interrupts off finds its timer
 * expired when it takes interrupts again, and the timer interrupt comes
 * first (its vector outranks every device's): the check runs before the
 * CPU takes a network interrupt. Started and stopped under a mutex; the
 * hotplug state starts the timer on each CPU that comes online and
 * cancels it on each that goes.
 */
static DEFINE_PER_CPU(struct hrtimer, ct_lapse_timer);
static DEFINE_MUTEX(ct_lapse_lock);
static u64 ct_lapse_period_ns;
static void (*ct_lapse_fn)(void);
static int ct_lapse_state = -1;

static enum hrtimer_restart ct_lapse_fired(struct hrtimer *timer)
{
	ct_lapse_fn();
	hrtimer_forward_now(timer, ns_to_ktime(ct_lapse_period_ns));
	return HRTIMER_RESTART;
}

/* Runs on the CPU itself (an AP hotplug state). */
static int ct_lapse_cpu_online(unsigned int cpu)
{
	struct hrtimer *timer = per_cpu_ptr(&ct_lapse_timer, cpu);

	hrtimer_init(timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_PINNED_HARD);
	timer->function = ct_lapse_fired;
	hrtimer_start(timer, ns_to_ktime(ct_lapse_period_ns), HRTIMER_MODE_REL_PINNED_HARD);
	return 0;
}

static int ct_lapse_cpu_offline(unsigned int cpu)
{
	hrtimer_cancel(per_cpu_ptr(&ct_lapse_timer, cpu));
	return 0;
}

int ct_lapse_start(u64 period_ns, void (*fn)(void))
{
	int state = 0;

	mutex_lock(&ct_lapse_lock);
	if (ct_lapse_state < 0) {
		ct_lapse_period_ns = period_ns;
		ct_lapse_fn = fn;
		state = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "coretakeover/lapse:online",
					  ct_lapse_cpu_online, ct_lapse_cpu_offline);
		if (state >= 0)
			ct_lapse_state = state;
	}
	mutex_unlock(&ct_lapse_lock);
	return state < 0 ? state : 0;
}

void ct_lapse_stop(void)
{
	mutex_lock(&ct_lapse_lock);
	if (ct_lapse_state >= 0) {
		cpuhp_remove_state(ct_lapse_state);
		ct_lapse_state = -1;
	}
	mutex_unlock(&ct_lapse_lock);
}

/*
 * HChaCha20 of the 16 bytes @in under the 32-byte @key, into @out (32
 * bytes): the subkey step of XChaCha20, with byte order as RFC 8439 and
 * draft-irtf-cfrg-xchacha give it. chacha_init_consts() is an inline; the
 * kernel's block function takes words. Derives an arming's chunk key
 * (secret.rs).
 */
void ct_hchacha20(const u8 *key, const u8 *in, u8 *out)
{
	u32 state[16], words[8];
	int i;

	chacha_init_consts(state);
	for (i = 0; i < 8; i++)
		state[4 + i] = get_unaligned_le32(key + 4 * i);
	for (i = 0; i < 4; i++)
		state[12 + i] = get_unaligned_le32(in + 4 * i);
	hchacha_block_generic(state, words, 20);
	for (i = 0; i < 8; i++)
		put_unaligned_le32(words[i], out + 4 * i);
	memzero_explicit(state, sizeof(state));
	memzero_explicit(words, sizeof(words));
}
