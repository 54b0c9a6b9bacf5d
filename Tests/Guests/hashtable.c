/* A chained hash table (insert, look up, delete, rehash) counting the words of generated text,
 * and singly linked lists (push, reverse, merge sort, delete every third node).
 * SPDX-License-Identifier: GPL-2.0-or-later */
#include "rt.h"

struct entry {
    struct entry *next;
    char key[16];
    unsigned count;
};

#define POOL 4096
static struct entry pool[POOL];
static int pool_used;
static struct entry *free_list;
static struct entry *buckets_storage[1024];

struct table {
    struct entry **buckets;
    unsigned nbuckets, size;
};

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

static struct entry *new_entry(void)
{
    if (free_list) {
        struct entry *e = free_list;
        free_list = e->next;
        return e;
    }
    if (pool_used == POOL)
        fail("entry pool exhausted");
    return &pool[pool_used++];
}

static void rehash(struct table *t, unsigned nbuckets)
{
    /* Collect every entry into one list, then redistribute into the (static) bucket storage. */
    struct entry *all = 0;
    for (unsigned i = 0; i < t->nbuckets; i++)
        while (t->buckets[i]) {
            struct entry *e = t->buckets[i];
            t->buckets[i] = e->next;
            e->next = all;
            all = e;
        }
    t->nbuckets = nbuckets;
    t->buckets = buckets_storage;
    for (unsigned i = 0; i < nbuckets; i++)
        t->buckets[i] = 0;
    while (all) {
        struct entry *e = all;
        all = e->next;
        unsigned b = fnv1a(e->key) & (nbuckets - 1);
        e->next = t->buckets[b];
        t->buckets[b] = e;
    }
}

static struct entry *find(struct table *t, const char *key)
{
    for (struct entry *e = t->buckets[fnv1a(key) & (t->nbuckets - 1)]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return 0;
}

static void increment(struct table *t, const char *key)
{
    struct entry *e = find(t, key);
    if (e) {
        e->count++;
        return;
    }
    if (t->size + 1 > t->nbuckets * 2 && t->nbuckets < ARRAY_SIZE(buckets_storage))
        rehash(t, t->nbuckets * 2);
    e = new_entry();
    size_t n = strlen(key);
    memcpy(e->key, key, n + 1);
    e->count = 1;
    unsigned b = fnv1a(key) & (t->nbuckets - 1);
    e->next = t->buckets[b];
    t->buckets[b] = e;
    t->size++;
}

static int remove_key(struct table *t, const char *key)
{
    struct entry **link = &t->buckets[fnv1a(key) & (t->nbuckets - 1)];
    for (; *link; link = &(*link)->next)
        if (strcmp((*link)->key, key) == 0) {
            struct entry *e = *link;
            *link = e->next;
            e->next = free_list;
            free_list = e;
            t->size--;
            return 1;
        }
    return 0;
}

/* ---- linked lists of integers ---- */

struct node {
    struct node *next;
    int64_t value;
};

static struct node nodes[2000];

static struct node *reverse(struct node *head)
{
    struct node *prev = 0;
    while (head) {
        struct node *next = head->next;
        head->next = prev;
        prev = head;
        head = next;
    }
    return prev;
}

static struct node *merge_sort(struct node *head)
{
    if (!head || !head->next)
        return head;
    struct node *slow = head, *fast = head->next;
    while (fast && fast->next)
        slow = slow->next, fast = fast->next->next;
    struct node *second = slow->next;
    slow->next = 0;
    struct node *a = merge_sort(head), *b = merge_sort(second), dummy, *tail = &dummy;
    while (a && b) {
        if (b->value < a->value)
            tail->next = b, b = b->next;
        else
            tail->next = a, a = a->next;
        tail = tail->next;
    }
    tail->next = a ? a : b;
    return dummy.next;
}

static void show_list(const char *label, struct node *head)
{
    int n = 0;
    uint64_t h = 0;
    printf("%s:", label);
    for (; head; head = head->next, n++) {
        if (n < 8)
            printf(" %ld", head->value);
        h = h * 1000003 + (uint64_t)head->value;
    }
    printf(" ... (%d nodes, hash %016lx)\n", n, h);
}

int main(void)
{
    static const char *const syllables[] = { "ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "xe", "zu" };
    struct table t = { buckets_storage, 4, 0 };
    for (unsigned i = 0; i < t.nbuckets; i++)
        t.buckets[i] = 0;
    uint64_t state = 77;
    char word[16];
    for (int i = 0; i < 6000; i++) {
        uint64_t r = prng_next(&state);
        int len = 1 + (int)(r % 3);
        word[0] = 0;
        for (int k = 0; k < len; k++) {
            const char *s = syllables[(r >> (8 + 4 * k)) % 10];
            size_t at = strlen(word);
            word[at] = s[0];
            word[at + 1] = s[1];
            word[at + 2] = 0;
        }
        increment(&t, word);
    }
    printf("distinct words %u, buckets %u\n", t.size, t.nbuckets);
    static const char *const probes[] = { "ka", "lomi", "zuzuzu", "nesuta", "xe", "popopo", "qq" };
    for (unsigned i = 0; i < ARRAY_SIZE(probes); i++) {
        struct entry *e = find(&t, probes[i]);
        printf("  %-7s %u\n", probes[i], e ? e->count : 0);
    }
    unsigned longest = 0, empty = 0, total = 0;
    for (unsigned i = 0; i < t.nbuckets; i++) {
        unsigned len = 0;
        for (struct entry *e = t.buckets[i]; e; e = e->next)
            len++, total += e->count;
        longest = len > longest ? len : longest;
        empty += len == 0;
    }
    printf("total count %u, longest chain %u, empty buckets %u\n", total, longest, empty);
    int removed = 0;
    for (unsigned i = 0; i < 10; i++)
        for (unsigned j = 0; j < 10; j += 3) {
            char k[8] = { syllables[i][0], syllables[i][1], syllables[j][0], syllables[j][1], 0 };
            removed += remove_key(&t, k);
        }
    printf("removed %d two-syllable words, %u left, lomi now %u\n", removed, t.size,
           find(&t, "lomi") ? find(&t, "lomi")->count : 0);
    increment(&t, "brandnew");
    printf("reused a freed entry: %s\n", find(&t, "brandnew") && pool_used < 1100 ? "yes" : "no");

    struct node *head = 0;
    for (int i = 0; i < 2000; i++) {
        nodes[i].value = (int64_t)(prng_next(&state) % 100000) - 50000;
        nodes[i].next = head;
        head = &nodes[i];
    }
    show_list("pushed", head);
    head = reverse(head);
    show_list("reversed", head);
    head = merge_sort(head);
    show_list("sorted", head);
    int position = 0;
    for (struct node **link = &head; *link; position++) {
        if (position % 3 == 2)
            *link = (*link)->next;
        else
            link = &(*link)->next;
    }
    show_list("every third removed", head);
    head = reverse(head);
    show_list("reversed again", head);
    return 0;
}
